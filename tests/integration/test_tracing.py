"""One job, one trace: a REST call with a client ``traceparent`` through Envoy, the
server, the database and the queue, into an RQ worker process, its ComfyUI calls and
storage — as received by a local OTLP/HTTP receiver."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.stack import GatewayStack, fresh_postgres_database

PROMPT = "a secret lighthouse prompt"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    start_ns: int


class OtlpReceiver:
    """OTLP/HTTP (protobuf) on 127.0.0.1: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.accept(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def accept(self, path: str, body: bytes) -> None:
        assert path == "/v1/traces", path
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=resource.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            start_ns=span.start_time_unix_nano,
                        )
                    )
        with self._lock:
            self.spans += received

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


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
    spans = _wait_for_spans(receiver, trace_id, stages | {"job.succeed", "events.publish"})
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


def _wait_for_spans(
    receiver: OtlpReceiver, trace_id: str, names: set[str], timeout_s: float = 15
) -> list[ReceivedSpan]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        spans = receiver.trace(trace_id)
        if names <= {span.name for span in spans}:
            time.sleep(0.5)  # let the last batches land
            return receiver.trace(trace_id)
        time.sleep(0.1)
    raise AssertionError(f"spans missing; got {[s.name for s in receiver.trace(trace_id)]}")


def _print_trace(spans: list[ReceivedSpan], parents: dict[str, ReceivedSpan]) -> None:
    def depth(span: ReceivedSpan) -> int:
        parent = parents.get(span.parent_id)
        return 0 if parent is None else depth(parent) + 1

    print()
    for span in sorted(spans, key=lambda span: span.start_ns):
        print(f"{'  ' * depth(span)}{span.name} [{span.service}] {span.attributes}")
