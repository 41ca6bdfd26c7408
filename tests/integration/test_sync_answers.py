"""Synchronous answers: ``Prefer: wait=N`` on POST /jobs, through Envoy and over gRPC.

One embedded stack (emulator, SQLite, local disk) for the module; each test asks for
jobs of its own (distinct prompts or random seeds, so the cache never answers
unless the test wants it to).
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest
import requests
from google.protobuf import struct_pb2

from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc
from tests.ports import free_port
from tests.stack import GatewayStack

SMALL = {"width": 64, "height": 64, "steps": 3, "seed": -1}
LONG = {"width": 64, "height": 64, "steps": 150, "seed": -1}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir: Path = tmp_path_factory.mktemp("sync")
    env = {
        "MAX_CONCURRENCY": "2",
        "COMFYUI_EMULATOR_STEP_MS": "40",
        "WEBHOOK_SECRET": "sync-secret",
        "WEBHOOK_ALLOWED_DOMAINS": "127.0.0.1",
    }
    with GatewayStack(workdir, env, emulator=True) as stack:
        stack.register_bundled_workflows()
        yield stack


def create(
    stack: GatewayStack, body: dict[str, Any], prefer: str, timeout_s: float = 120
) -> requests.Response:
    return requests.post(
        f"{stack.base_url}/jobs", json=body, headers={"Prefer": prefer}, timeout=timeout_s
    )


def icon(prompt: str, **overrides: Any) -> dict[str, Any]:
    return {"workflowId": "icon_512", "inputs": {"prompt": prompt, **SMALL, **overrides}}


def cancel_quietly(stack: GatewayStack, job_id: str) -> None:
    requests.post(f"{stack.base_url}/jobs/{job_id}/cancel", timeout=10)


def test_wait_answers_200_with_the_succeeded_job_and_its_outputs(gateway: GatewayStack) -> None:
    response = create(gateway, icon(f"sync {uuid.uuid4()}"), "wait=60")
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded"
    assert job["workflowId"] == "icon_512" and job["progress"] == 100
    assert job["pollUrl"] == f"/jobs/{job['jobId']}"
    assert job["timing"]["completedAt"] and "error" not in job
    assert job["outputs"] and "data" not in job["outputs"][0]
    download = requests.get(gateway.base_url + job["outputs"][0]["url"], timeout=10)
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")
    polled = requests.get(f"{gateway.base_url}/jobs/{job['jobId']}", timeout=10).json()
    assert polled["status"] == "succeeded"
    assert [o["sha256"] for o in polled["outputs"]] == [o["sha256"] for o in job["outputs"]]


def test_wait_that_runs_out_answers_the_usual_202(gateway: GatewayStack) -> None:
    started = time.monotonic()
    response = create(gateway, icon(f"long {uuid.uuid4()}", **LONG), "wait=1")
    try:
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued" and body["pollUrl"] == f"/jobs/{body['jobId']}"
        assert "workflowId" not in body  # the 202 keeps its documented shape
        assert time.monotonic() - started >= 1.0
        job = requests.get(gateway.base_url + body["pollUrl"], timeout=10).json()
        assert job["status"] in ("queued", "running")
    finally:
        cancel_quietly(gateway, response.json()["jobId"])


def test_inline_base64_outputs_are_byte_exact(gateway: GatewayStack) -> None:
    body = {**icon(f"inline {uuid.uuid4()}"), "outputEncoding": "base64"}
    response = create(gateway, body, "return=representation; wait=60")
    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "return=representation"
    for output in response.json()["outputs"]:
        inline = base64.b64decode(output["data"])
        stored = requests.get(gateway.base_url + output["url"], timeout=10).content
        assert inline == stored and len(inline) == output["size"]


def test_replayed_request_id_waits_for_the_same_job(gateway: GatewayStack) -> None:
    body = icon(f"replay {uuid.uuid4()}", steps=40)
    body["metadata"] = {"requestId": f"req-{uuid.uuid4()}"}
    first = create(gateway, body, "wait=0")
    assert first.status_code == 202, first.text
    again = create(gateway, body, "wait=60")
    assert again.status_code == 200, again.text
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.json()["status"] == "succeeded"
    third = create(gateway, body, "wait=60")
    assert third.status_code == 200 and third.json()["jobId"] == first.json()["jobId"]
    listed = requests.get(f"{gateway.base_url}/jobs", params={"limit": 500}, timeout=10).json()
    assert [j["jobId"] for j in listed["jobs"]].count(first.json()["jobId"]) == 1


def test_cache_hit_with_wait_answers_at_once_with_the_job(gateway: GatewayStack) -> None:
    body = icon(f"cached {uuid.uuid4()}", seed=1234)
    original = create(gateway, body, "wait=60")
    assert original.status_code == 200 and original.json()["status"] == "succeeded"
    hit = create(gateway, body, "wait=60")
    assert hit.status_code == 200, hit.text
    assert hit.json()["status"] == "cache_hit" and hit.json()["workflowId"] == "icon_512"
    assert [o["sha256"] for o in hit.json()["outputs"]] == [
        o["sha256"] for o in original.json()["outputs"]
    ]


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    _Receiver.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.bodies
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_is_delivered_as_without_waiting(
    gateway: GatewayStack, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = receiver
    body = {**icon(f"hooked {uuid.uuid4()}"), "callbackUrl": url}
    response = create(gateway, body, "wait=60")
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    deadline = time.monotonic() + 30
    while not bodies and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [b["jobId"] for b in bodies] == [response.json()["jobId"]]
    assert bodies[0]["status"] == "succeeded"
    assert [o["sha256"] for o in bodies[0]["result"]["outputs"]] == [
        o["sha256"] for o in response.json()["outputs"]
    ]


def test_bad_output_encoding_is_refused_before_any_job(gateway: GatewayStack) -> None:
    body = {**icon("bad encoding"), "outputEncoding": "hex"}
    response = create(gateway, body, "wait=5")
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def test_grpc_callers_wait_through_metadata(gateway: GatewayStack) -> None:
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        request = jobs_pb2.CreateJobRequest(
            workflow_id="icon_512",
            inputs=_struct({"prompt": f"grpc {uuid.uuid4()}", **SMALL}),
            output_encoding="base64",
        )
        answer = stub.CreateJob(
            request, metadata=(("prefer", "return=representation, wait=60"),), timeout=120
        )
        assert answer.status == "succeeded" and answer.workflow_id == "icon_512"
        assert answer.outputs and answer.outputs[0].data.startswith(b"\x89PNG")
        assert len(answer.outputs[0].data) == answer.outputs[0].size
        slow = jobs_pb2.CreateJobRequest(
            workflow_id="icon_512", inputs=_struct({"prompt": f"grpc long {uuid.uuid4()}", **LONG})
        )
        queued = stub.CreateJob(slow, metadata=(("prefer", "wait=1"),), timeout=60)
        cancel_quietly(gateway, queued.job_id)
        assert queued.status == "queued" and not queued.HasField("workflow_id")
