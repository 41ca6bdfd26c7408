"""Privacy mode end to end: the prompt reaches ComfyUI and nowhere else we keep.

RQ mode (a worker process decrypts the graph the server sealed, with a key both
derive from JWT_SECRET), debug logging everywhere. After a job ran, the unique prompt
is searched in the server and worker logs, the SQLite file and its WAL, the job's
REST answers and its logs — and found in the emulator's history, which proves the
graph sent to ComfyUI held it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from comfyui_gateway.privacy import redact_text
from tests.integration.security_helpers import (
    JWT_SECRET,
    SMALL,
    bearer_identity,
    make_token,
    wait_for_job,
)
from tests.stack import GatewayStack

USER = bearer_identity("user", make_token(sub="privacy-user", role="user"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("privacy")
    env = {"PRIVACY_MODE": "true", "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "debug"}
    with GatewayStack(workdir, env, emulator=True, workers=1) as running:
        running.register_bundled_workflows()
        yield running


def test_prompt_is_kept_only_in_the_graph_sent_to_comfyui(stack: GatewayStack) -> None:
    prompt = f"zebra-{uuid.uuid4().hex}"
    negative = f"okapi-{uuid.uuid4().hex}"
    response = requests.post(
        f"{stack.base_url}/jobs",
        json={
            "workflowId": "sdxl_realism_v1",
            "inputs": {"prompt": prompt, **SMALL},
            "params": {"negative_prompt": negative},
        },
        headers=USER.rest,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    job = wait_for_job(stack, USER, job_id)
    assert job["status"] == "succeeded", job
    assert job["inputs"]["prompt"] == redact_text(prompt)
    assert job["inputs"]["negative_prompt"] == redact_text(negative)

    secrets = (prompt, negative)
    answers = [
        requests.get(f"{stack.base_url}/jobs/{job_id}{suffix}", headers=USER.rest, timeout=10).text
        for suffix in ("", "/logs", "/events")
    ]
    answers.append(requests.get(f"{stack.base_url}/jobs", headers=USER.rest, timeout=10).text)
    for text in answers:
        assert not any(s in text for s in secrets)
    for name in ("server", "worker-0", "envoy"):
        log = stack.log(name)
        assert log, name
        assert not any(s in log for s in secrets), name
    # The emulator (ComfyUI) got the clear graph: the worker decrypted it.
    assert _history_has(stack, prompt)
    stack.stop()  # flush and close the database before reading its bytes
    stored = b""
    for suffix in ("", "-wal", "-journal", "-shm"):
        path = stack.workdir / f"gateway.db{suffix}"
        if path.exists():
            stored += path.read_bytes()
    assert stored
    assert not any(s.encode() in stored for s in secrets)
    assert redact_text(prompt).encode() in stored


def _history_has(stack: GatewayStack, prompt: str) -> bool:
    return prompt in requests.get(f"{stack.comfyui_url}/history", timeout=5).text
