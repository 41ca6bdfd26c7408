"""One job, one trace: a REST call with a client ``traceparent`` through Envoy, the
server, the database and the queue, into an RQ worker process, its ComfyUI calls and
storage — as received by a local OTLP/HTTP receiver."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.stack import GatewayStack, fresh_postgres_database

PROMPT = "a secret lighthouse prompt"


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayStack, OtlpReceiver]]:
    workdir = tmp_path_factory.mktemp("tracing")
    with OtlpReceiver() as receiver, fresh_postgres_database() as database_url:
        env = {
            "DATABASE_URL": database_url,
            "PRIVACY_MODE": "true",
            "PRIVACY_KEY": "tracing-test-key",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with GatewayStack(workdir, env, emulator=True, workers=1) as stack:
            subprocess.run(
                [sys.executable, "-m", "comfyui_gateway", "init"],
                env=stack.env,
                cwd=workdir,
                check=True,
                capture_output=True,
                timeout=60,
            )
            yield stack, receiver


# Server, worker and emulator processes start first: more than the default 60 s when
# the two cores are busy.
@pytest.mark.timeout(120)
def test_one_job_is_one_trace_from_rest_to_storage(
    traced: tuple[GatewayStack, OtlpReceiver],
) -> None:
    stack, receiver = traced
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    body = {"workflowId": "icon_512", "inputs": {"prompt": PROMPT, "width": 64, "height": 64}}
    headers = {"traceparent": f"00-{trace_id}-{client_span}-01", "x-request-id": "trace-test-1"}
    created = requests.post(f"{stack.base_url}/jobs", json=body, headers=headers, timeout=10)
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]
    deadline = time.monotonic() + 30
    while requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=5).json()["status"] != (
        "succeeded"
    ):
        assert time.monotonic() < deadline, "job did not succeed"
        time.sleep(0.1)

    stages = {"worker.claim", "job.run", "comfyui.submit", "outputs.fetch", "storage.save"}
    spans = receiver.wait_for(trace_id, stages | {"job.succeed", "events.publish"})
    by_name = {span.name: span for span in spans}
    server = by_name["comfyui_gateway.v1.JobService/CreateJob"]
    run = by_name["job.run"]
    parents = {span.span_id: span for span in spans}
    _print_trace(spans, parents)

    # REST -> server: the client's span is the server span's parent.
    assert server.parent_id == client_span
    assert server.service == "comfyui-gateway-server"
    assert server.attributes["gateway.correlation_id"] == "trace-test-1"
    assert server.attributes["job.id"] == job_id
    # server -> database -> queue.
    assert by_name["job.store"].parent_id == server.span_id
    assert by_name["queue.enqueue"].parent_id == server.span_id
    # queue -> worker (another process), with the job's identity; the claim beside it.
    assert run.parent_id == server.span_id
    assert by_name["worker.claim"].parent_id == server.span_id
    assert run.service == "comfyui-gateway-worker"
    assert run.attributes["job.id"] == job_id
    assert run.attributes["workflow.id"] == "icon_512"
    assert run.attributes["comfyui.backend"] == stack.comfyui_url
    assert run.attributes["job.attempt"] == 1
    # worker -> ComfyUI (HTTP, the followed execution) -> storage -> success -> events.
    prompt = by_name["comfyui POST /prompt"]
    assert prompt.parent_id == by_name["comfyui.submit"].span_id
    assert by_name["comfyui.submit"].parent_id == run.span_id
    assert prompt.attributes["http.response.status_code"] == 200
    assert by_name["comfyui.follow"].parent_id == run.span_id
    assert by_name["outputs.fetch"].parent_id == run.span_id
    assert by_name["storage.save"].parent_id == by_name["outputs.fetch"].span_id
    assert by_name["comfyui GET /view"].parent_id == by_name["storage.save"].span_id
    assert by_name["job.succeed"].parent_id == run.span_id
    publishers = {run.span_id, by_name["comfyui.follow"].span_id}
    assert all(s.parent_id in publishers for s in spans if s.name == "events.publish")
    # Privacy mode: the prompt is nowhere in the trace.
    assert all(PROMPT not in str(span.attributes) for span in spans)
    # The call's log line carries the trace id beside Envoy's correlation id.
    lines = [line for line in stack.log("server").splitlines() if "trace-test-1" in line]
    assert any(f'"traceId": "{trace_id}"' in line for line in lines), lines


def _print_trace(spans: list[ReceivedSpan], parents: dict[str, ReceivedSpan]) -> None:
    def depth(span: ReceivedSpan) -> int:
        parent = parents.get(span.parent_id)
        return 0 if parent is None else depth(parent) + 1

    print()
    for span in sorted(spans, key=lambda span: span.start_ns):
        print(f"{'  ' * depth(span)}{span.name} [{span.service}] {span.attributes}")
