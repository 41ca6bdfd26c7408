"""A shared gateway for the input-hardening tests: emulator, embedded workers, bundled
workflows, and the error-shape check they all use."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.stack import GatewayStack

SMALL = {"width": 64, "height": 64, "steps": 2}


def register_bundled(stack: GatewayStack) -> None:
    stack.register_bundled_workflows()


def assert_validation_error(response: requests.Response, field: str) -> dict[str, Any]:
    """400 VALIDATION_ERROR in the documented shape whose message names ``field``."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == "VALIDATION_ERROR", body
    assert field in body["message"], body
    return body


def wait_for_status(
    stack: GatewayStack, job_id: str, wanted: set[str], timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=10).json()
        if job.get("status") in wanted:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {wanted}: {job}")
