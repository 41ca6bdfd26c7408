"""Delivery guarantees through the real edge: REST via Envoy, the server, the emulator.

One embedded gateway (workers, reconciler and deliverer in the API process) with a
webhook secret and an allowlist; the description's Express receiver runs verbatim.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.receiver_helpers import ExpressReceiver
from tests.stack import GatewayStack

SECRET = "your-webhook-secret"
SMALL = {"width": 64, "height": 64, "steps": 3}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    env = {
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_ALLOWED_DOMAINS": "127.0.0.1,n8n.your-domain.com,*.your-app.com",
        "WEBHOOK_RETRY_BASE_MS": "50",
        "RECONCILE_INTERVAL_MS": "500",
    }
    running = GatewayStack(tmp_path_factory.mktemp("webhooks"), env, emulator=True).start()
    try:  # a timeout during set-up must not leave the processes running
        running.register_bundled_workflows()
        yield running
    finally:
        running.stop()


def post_job(stack: GatewayStack, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.base_url}/jobs", json=body, timeout=10)


def wait_for(stack: GatewayStack, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=5).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def history_size(stack: GatewayStack) -> int:
    return len(requests.get(f"{stack.comfyui_url}/history", timeout=5).json())


def test_callback_outside_the_allowlist_is_refused_at_creation(stack: GatewayStack) -> None:
    body = {
        "workflowId": "icon_512",
        "inputs": {"prompt": "x", **SMALL},
        "callbackUrl": "https://example.com/webhook/comfyui",
    }
    response = post_job(stack, body)
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert response.json()["message"] == (
        'Callback domain "example.com" is not in the allowed domains list'
    )
    body["callbackUrl"] = "ftp://n8n.your-domain.com/x"
    assert post_job(stack, body).status_code == 400


def test_express_receiver_gets_a_verified_webhook(stack: GatewayStack) -> None:
    with ExpressReceiver(stack.workdir, SECRET) as receiver:
        body = {
            "workflowId": "icon_512",
            "inputs": {"prompt": f"webhook {uuid.uuid4().hex}", "seed": -1, **SMALL},
            "callbackUrl": receiver.url,
            "metadata": {"requestId": f"req_{uuid.uuid4().hex}", "userId": "user_456"},
        }
        response = post_job(stack, body)
        assert response.status_code == 202
        job_id = response.json()["jobId"]
        assert wait_for(stack, job_id)["status"] == "succeeded"
        output = receiver.wait_for(f"Job {job_id} succeeded!")
        assert "FAILED" not in output and "Outputs: 1 files" in output
    deadline = time.monotonic() + 10
    while True:  # the delivery is in the job's logs, visible to its owner
        logs = requests.get(f"{stack.base_url}/jobs/{job_id}/logs", timeout=5).json()["logs"]
        lines = [line["message"] for line in logs if line["message"].startswith("Webhook")]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert lines and lines[0].startswith("Webhook delivered to http://127.0.0.1:")
    assert lines[0].endswith("(attempt 1): HTTP 200")


def test_cache_hit_and_idempotent_retry_cost_no_prompt(stack: GatewayStack) -> None:
    inputs = {"prompt": f"cached {uuid.uuid4().hex}", "seed": 42, **SMALL}
    first = post_job(stack, {"workflowId": "icon_512", "inputs": inputs})
    assert first.status_code == 202
    original = wait_for(stack, first.json()["jobId"])
    prompts = history_size(stack)

    hit = post_job(stack, {"workflowId": "icon_512", "inputs": inputs})
    assert hit.status_code == 200, hit.text
    answer = hit.json()
    assert answer["status"] == "cache_hit"
    assert answer["pollUrl"] == f"/jobs/{answer['jobId']}"
    assert [o["sha256"] for o in answer["outputs"]] == [o["sha256"] for o in original["outputs"]]
    job = requests.get(f"{stack.base_url}{answer['pollUrl']}", timeout=5).json()
    assert job["status"] == "succeeded" and job["progress"] == 100
    download = requests.get(f"{stack.base_url}{answer['outputs'][0]['url']}", timeout=5)
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")
    assert len(download.content) == original["outputs"][0]["size"]

    request_id = f"req_{uuid.uuid4().hex}"
    fresh = {"prompt": f"idem {uuid.uuid4().hex}", "seed": -1, **SMALL}
    body = {"workflowId": "icon_512", "inputs": fresh, "metadata": {"requestId": request_id}}
    created = post_job(stack, body)
    assert created.status_code == 202
    wait_for(stack, created.json()["jobId"])
    retry = post_job(stack, body)
    assert retry.status_code == 202
    assert retry.json()["jobId"] == created.json()["jobId"]
    assert retry.json()["status"] == "succeeded"
    assert history_size(stack) == prompts + 1  # only the idempotent job's own prompt
