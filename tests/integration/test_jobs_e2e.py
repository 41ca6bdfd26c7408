"""Jobs end to end through Envoy, against the ComfyUI emulator, in both queue modes.

``embedded``: REDIS_URL empty, workers inside the API process; SQLite, local disk.
``rq``: REDIS_URL set, two ``comfyui-gateway worker`` processes on one backend;
PostgreSQL (a database of its own) and S3 (moto's server) — the production shape.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc
from tests.reference.comfyui_client import ComfyUIGateway, ComfyUIGatewayError
from tests.s3_fixtures import MotoServer
from tests.stack import GatewayStack, fresh_postgres_database

SMALL = {"width": 64, "height": 64, "steps": 3}


@pytest.fixture(scope="module", params=["embedded", "rq"])
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    moto_server: MotoServer,
) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp(f"jobs-{request.param}")
    env = {"MAX_CONCURRENCY": "2", "COMFYUI_EMULATOR_STEP_MS": "20"}
    if request.param == "embedded":
        with _started(GatewayStack(workdir, env, emulator=True)) as stack:
            yield stack
        return
    env |= {
        "STORAGE_PROVIDER": "s3",
        "S3_ENDPOINT": moto_server.endpoint,
        "S3_BUCKET": f"jobs-{uuid.uuid4().hex[:12]}",
        "S3_ACCESS_KEY": moto_server.access_key,
        "S3_SECRET_KEY": moto_server.secret_key,
    }
    with fresh_postgres_database() as database_url:
        env["DATABASE_URL"] = database_url
        with _started(GatewayStack(workdir, env, emulator=True, workers=2)) as stack:
            yield stack


@contextlib.contextmanager
def _started(stack: GatewayStack) -> Iterator[GatewayStack]:
    stack.start()
    try:
        _register_bundled(stack)
        yield stack
    finally:
        stack.stop()


def _register_bundled(stack: GatewayStack) -> None:

    stack.register_bundled_workflows()


def submit(stack: GatewayStack, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{stack.base_url}/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    payload: dict[str, Any] = response.json()
    return payload


def wait_for(stack: GatewayStack, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=5).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def sse_events(stack: GatewayStack, job_id: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    events = []
    with requests.get(
        f"{stack.base_url}/jobs/{job_id}/events", stream=True, timeout=timeout_s
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(b"data: "):
                events.append(json.loads(line[len(b"data: ") :]))
    return events


def test_create_answers_202_with_the_documented_shape(gateway: GatewayStack) -> None:
    created = submit(gateway, {"workflowId": "sdxl_realism_v1", "inputs": {"prompt": "a", **SMALL}})
    assert set(created) >= {"jobId", "status", "etaSeconds", "pollUrl"}
    assert created["status"] == "queued"
    assert created["pollUrl"] == f"/jobs/{created['jobId']}"
    assert isinstance(created["etaSeconds"], int)
    wait_for(gateway, created["jobId"])


def test_reference_client_generates_and_downloads_byte_exact(
    gateway: GatewayStack, tmp_path: Any
) -> None:
    gw = ComfyUIGateway(gateway.base_url)
    result = gw.generate("sdxl_realism_v1", poll_interval=0.2, prompt="a lighthouse", **SMALL)
    assert result["status"] == "succeeded"
    assert result["progress"] == 100
    assert result["error"] is None if "error" in result else True
    output = result["outputs"][0]
    assert set(output) >= {"filename", "storagePath", "url", "size", "sha256", "contentType"}
    assert output["contentType"] == "image/png"
    target = gw.download(output["url"], str(tmp_path / "out.png"))
    data = Path(target).read_bytes()
    assert hashlib.sha256(data).hexdigest() == output["sha256"]
    assert len(data) == output["size"]
    assert data.startswith(b"\x89PNG")

    files = gw.list_outputs(result["jobId"])
    assert files[0]["sha256"] == output["sha256"]
    by_stored_name = gw.get_output_base64(result["jobId"], output["url"].rsplit("/", 1)[1])
    by_comfy_name = gw.get_output_base64(result["jobId"], output["filename"])
    assert by_stored_name["data"] == by_comfy_name["data"]
    assert by_stored_name["size"] == output["size"]
    assert by_stored_name["contentType"] == "image/png"

    timing = result["timing"]
    assert timing["createdAt"] <= timing["startedAt"] <= timing["completedAt"]
    assert isinstance(timing["executionTimeMs"], int)

    logs = gw.get_job_logs(result["jobId"])["logs"]
    messages = [line["message"] for line in logs]
    assert messages[0] == "Job queued"
    assert any(m.startswith("Started on backend") for m in messages)
    assert any(m.startswith("ComfyUI prompt id") for m in messages)
    assert any("KSampler" in m for m in messages)
    assert any(m.startswith("Outputs stored: 1") for m in messages)
    assert all({"timestamp", "level", "message"} <= set(line) for line in logs)


def test_download_has_content_type_and_disposition(gateway: GatewayStack) -> None:
    created = submit(gateway, {"workflowId": "icon_512", "inputs": {"prompt": "icon", **SMALL}})
    job = wait_for(gateway, created["jobId"])
    response = requests.get(f"{gateway.base_url}{job['outputs'][0]['url']}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "inline" in response.headers["content-disposition"]
    missing = requests.get(f"{gateway.base_url}/outputs/{created['jobId']}/nope.png", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "OUTPUT_NOT_FOUND"
    traversal = requests.get(
        f"{gateway.base_url}/outputs/{created['jobId']}/..%2F..%2Fetc%2Fpasswd", timeout=5
    )
    assert traversal.status_code in (400, 404)


def test_event_stream_shows_progress_then_outputs(gateway: GatewayStack) -> None:
    inputs = {"prompt": "stream", "width": 64, "height": 64, "steps": 20}
    created = submit(gateway, {"workflowId": "sdxl_realism_v1", "inputs": inputs})
    events = sse_events(gateway, created["jobId"])
    assert events[0]["type"] in ("snapshot", "terminal")
    assert events[-1]["type"] == "terminal"
    assert events[-1]["status"] == "succeeded"
    assert events[-1]["outputs"][0]["sha256"]
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)
    if events[0]["type"] == "snapshot":
        steps = [e for e in events if e["type"] == "progress"]
        assert len(steps) >= 3
        assert steps[-1]["maxSteps"] == 20


def test_grpc_watch_streams_the_same_events(gateway: GatewayStack) -> None:
    created = submit(
        gateway, {"workflowId": "sdxl_realism_v1", "inputs": {"prompt": "grpc", **SMALL}}
    )
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        events = list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=created["jobId"]), timeout=30))
        assert events[-1].type == "terminal" and events[-1].status == "succeeded"
        job = stub.GetJob(jobs_pb2.GetJobRequest(job_id=created["jobId"]), timeout=5)
        assert job.outputs[0].sha256 == events[-1].outputs[0].sha256


def test_cancel_running_job_reaches_comfyui_and_frees_the_backend(gateway: GatewayStack) -> None:
    slow = {"prompt": "slow", "width": 64, "height": 64, "steps": 150}
    created = submit(gateway, {"workflowId": "sdxl_realism_v1", "inputs": slow})
    job_id = created["jobId"]
    deadline = time.monotonic() + 20
    while requests.get(f"{gateway.base_url}/jobs/{job_id}", timeout=5).json()["progress"] < 5:
        assert time.monotonic() < deadline, "job never made progress"
        time.sleep(0.1)
    answer = requests.post(f"{gateway.base_url}/jobs/{job_id}/cancel", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {  # running: asked, confirmed once the worker has stopped it
        "jobId": job_id,
        "status": "cancelling",
        "message": "Cancellation requested",
    }
    started = time.monotonic()
    assert wait_for(gateway, job_id, timeout_s=10)["status"] == "cancelled"
    assert time.monotonic() - started < 5
    queue = requests.get(f"{gateway.comfyui_url}/queue", timeout=5).json()
    assert queue == {"queue_running": [], "queue_pending": []}
    follow_up = submit(gateway, {"workflowId": "icon_512", "inputs": {"prompt": "next", **SMALL}})
    assert wait_for(gateway, follow_up["jobId"], timeout_s=15)["status"] == "succeeded"
    again = requests.post(f"{gateway.base_url}/jobs/{job_id}/cancel", timeout=5)
    assert again.status_code == 409 and again.json()["error"] == "CONFLICT"


def test_high_priority_overtakes_queued_low_priority(gateway: GatewayStack) -> None:
    busy = {"prompt": "busy", "width": 64, "height": 64, "steps": 100}
    blockers = [
        submit(gateway, {"workflowId": "sdxl_realism_v1", "inputs": busy}) for _ in range(2)
    ]
    lows = [
        submit(
            gateway,
            {
                "workflowId": "icon_512",
                "inputs": {"prompt": f"low {i}", **SMALL},
                "priority": "low",
            },
        )
        for i in range(3)
    ]
    high = submit(
        gateway,
        {"workflowId": "icon_512", "inputs": {"prompt": "high", **SMALL}, "priority": "high"},
    )
    finished = {
        job["jobId"]: wait_for(gateway, job["jobId"], timeout_s=60)
        for job in [*blockers, *lows, high]
    }
    high_done = finished[high["jobId"]]["timing"]["completedAt"]
    low_started = sorted(finished[job["jobId"]]["timing"]["startedAt"] for job in lows)
    assert high_done <= low_started[-1]
    assert finished[high["jobId"]]["timing"]["startedAt"] <= low_started[0]


def test_cancel_queued_job(gateway: GatewayStack) -> None:
    busy = {"prompt": "busy", "width": 64, "height": 64, "steps": 150}
    blockers = [
        submit(gateway, {"workflowId": "sdxl_realism_v1", "inputs": busy}) for _ in range(2)
    ]
    waiting = submit(gateway, {"workflowId": "icon_512", "inputs": {"prompt": "w", **SMALL}})
    answer = requests.post(f"{gateway.base_url}/jobs/{waiting['jobId']}/cancel", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"  # queued: done at once
    job = requests.get(f"{gateway.base_url}/jobs/{waiting['jobId']}", timeout=5).json()
    assert job["status"] == "cancelled"
    for blocker in blockers:
        requests.post(f"{gateway.base_url}/jobs/{blocker['jobId']}/cancel", timeout=5)
        wait_for(gateway, blocker["jobId"])


def test_list_jobs_filters_and_counts(gateway: GatewayStack) -> None:
    gw = ComfyUIGateway(gateway.base_url)
    marker = uuid.uuid4().hex[:6]
    ids = [
        gw.submit_job("icon_512", {"prompt": f"{marker}", **SMALL}, request_id=None)["jobId"]
        for _ in range(3)
    ]
    for job_id in ids:
        wait_for(gateway, job_id)
    listed = gw.list_jobs(workflow_id="icon_512", status="succeeded", limit=2)
    assert listed["count"] >= 3
    assert len(listed["jobs"]) == 2
    created = [job["timing"]["createdAt"] for job in listed["jobs"]]
    assert created == sorted(created, reverse=True)
    page2 = gw.list_jobs(workflow_id="icon_512", status="succeeded", limit=2, offset=2)
    assert not {j["jobId"] for j in page2["jobs"]} & {j["jobId"] for j in listed["jobs"]}
    after = requests.get(
        f"{gateway.base_url}/jobs", params={"after": "2999-01-01T00:00:00Z"}, timeout=5
    ).json()
    assert after == {"jobs": [], "count": 0}
    bad = requests.get(f"{gateway.base_url}/jobs", params={"status": "done"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"workflowId": "no_such", "inputs": {"prompt": "x"}}, 404, "WORKFLOW_NOT_FOUND"),
        (
            {"workflowId": "icon_512", "inputs": {"prompt": "x", "width": 4096}},
            400,
            "VALIDATION_ERROR",
        ),
        (
            {"workflowId": "icon_512", "inputs": {"prompt": "x", "batch_size": 9}},
            400,
            "VALIDATION_ERROR",
        ),
        (
            {"workflowId": "icon_512", "inputs": {"prompt": "x", "nonsense": 1}},
            400,
            "VALIDATION_ERROR",
        ),
        ({"workflowId": "icon_512", "inputs": {}}, 400, "VALIDATION_ERROR"),
        (
            {"workflowId": "icon_512", "inputs": {"prompt": "x"}, "priority": "urgent"},
            400,
            "VALIDATION_ERROR",
        ),
    ],
)
def test_bad_job_requests_are_refused(
    gateway: GatewayStack, body: dict[str, Any], status: int, code: str
) -> None:
    response = requests.post(f"{gateway.base_url}/jobs", json=body, timeout=5)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_comfyui_rejection_fails_the_job_with_node_error(gateway: GatewayStack) -> None:
    inputs = {"prompt": "x", "checkpoint": "not_installed.safetensors", **SMALL}
    response = requests.post(
        f"{gateway.base_url}/jobs", json={"workflowId": "icon_512", "inputs": inputs}, timeout=5
    )
    if response.status_code == 400:  # the schema's enum already refused it: also correct
        assert response.json()["error"] == "VALIDATION_ERROR"
        return
    job = wait_for(gateway, response.json()["jobId"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "COMFYUI_NODE_ERROR"
    assert job["error"]["retryable"] is False


def test_unknown_job_is_404(gateway: GatewayStack) -> None:
    for path in ("/jobs/{}", "/jobs/{}/logs", "/outputs/{}"):
        response = requests.get(gateway.base_url + path.format(uuid.uuid4()), timeout=5)
        assert response.status_code == 404
        assert response.json()["error"] == "JOB_NOT_FOUND"
    with pytest.raises(ComfyUIGatewayError):
        ComfyUIGateway(gateway.base_url).generate("no_such_workflow", prompt="x")
