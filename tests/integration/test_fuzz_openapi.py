"""Schemathesis fuzzes the gateway through the real Envoy from the OpenAPI document it
serves, as an admin and as a user: 0 server errors, 0 conformance failures.

The suite's run is short (a dozen cases per operation and phase, both callers at once,
fixed seeds); ``make fuzz`` runs the same test for ``FUZZ_SECONDS`` with fresh seeds.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.fuzz_helpers import FUZZ_SECONDS_ENV, envoy_requests, fuzz, seeded_config
from tests.stack import GatewayStack

ADMIN_KEY = "sk-admin-fuzz-7f3a1c"
USER_KEY = "sk-user-fuzz-2b9e44"
LONG_RUN = FUZZ_SECONDS_ENV in os.environ
SECONDS = int(os.environ.get(FUZZ_SECONDS_ENV, "40"))
"""The suite's run is bounded by cases (``SUITE_EXAMPLES``) and capped at 40 s, which
only a loaded machine reaches; ``make fuzz`` is bounded by time alone."""
SUITE_EXAMPLES = 10
SEEDS = {"admin": 16, "user": 61}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    """A gateway with the emulator, the bundled workflows and two keys."""
    workdir = tmp_path_factory.mktemp("fuzz")
    # Callbacks only to loopback: a generated URL naming any other host is refused at
    # creation, so no job the fuzzer makes can send a webhook off this machine.
    env = {"API_KEYS": f"{ADMIN_KEY}:admin,{USER_KEY}:user", "WEBHOOK_ALLOWED_DOMAINS": "127.0.0.1"}
    gateway = GatewayStack(workdir, env, emulator=True).start()
    try:
        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=gateway.env,
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield gateway
    finally:
        gateway.stop()


def seed_for(caller: str) -> int:
    """``FUZZ_SEED`` replays a run; else fixed in the suite, fresh under ``make fuzz``."""
    if "FUZZ_SEED" in os.environ:
        return int(os.environ["FUZZ_SEED"])
    if LONG_RUN:
        return random.randrange(2**31)
    return SEEDS[caller]


def finished_job(stack: GatewayStack) -> tuple[str, str]:
    """A succeeded job of the user's and its stored output name, made through REST."""
    headers = {"X-API-Key": USER_KEY}
    body = {"workflowId": "icon_512", "inputs": {"prompt": "a lighthouse", "steps": 2}}
    created = requests.post(f"{stack.base_url}/jobs", json=body, headers=headers, timeout=30)
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.base_url}/jobs/{job_id}", headers=headers, timeout=30).json()
        if job["status"] == "succeeded":
            return job_id, job["outputs"][0]["url"].rsplit("/", 1)[1]
        assert job["status"] in {"queued", "running"}, job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.mark.timeout(SECONDS + 360)
def test_fuzzing_finds_no_server_error_and_no_conformance_failure(
    stack: GatewayStack, tmp_path: Path
) -> None:
    """Both callers at once: the budget bounds the wall-clock time of the whole test."""
    callers = {"admin": ADMIN_KEY, "user": USER_KEY}
    job_id, filename = finished_job(stack)
    workflows = ["icon_512", "sdxl_realism_v1", "sprite_transparent_bg"]
    known = {"path.jobId": [job_id], "path.filename": [filename], "path.id": workflows}
    config = seeded_config(tmp_path, {**known, "body.workflowId": workflows})
    before = envoy_requests(stack)
    with ThreadPoolExecutor(len(callers)) as pool:
        runs = {
            caller: pool.submit(
                fuzz,
                stack,
                caller,
                {"X-API-Key": key},
                seconds=SECONDS,
                workdir=tmp_path,
                seed=seed_for(caller),
                max_examples=None if LONG_RUN else SUITE_EXAMPLES,
                config=config,
            )
            for caller, key in callers.items()
        }
        results = [run.result() for run in runs.values()]
    sent = envoy_requests(stack) - before
    print(f"\nschemathesis: {sent} requests through Envoy")
    for result in results:
        print(f"schemathesis {result.summary()}")
    operations = len(stack_operations(stack))
    for result in results:
        assert result.clean, f"{result.summary()}\n{result.output[-12000:]}"
        if result.completed:  # a run cut short by its time cap covers fewer operations
            assert result.operations_tested >= operations, result.output[-4000:]
    assert sent > sum(result.test_cases for result in results) > 0
    server_log = stack.log("server")
    assert "Traceback" not in server_log, server_log[-4000:]


def stack_operations(stack: GatewayStack) -> list[str]:
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    return [f"{verb} {path}" for path, item in document["paths"].items() for verb in item]
