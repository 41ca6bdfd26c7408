"""The REST edge through a real Envoy: shapes, errors Envoy makes itself, CORS, ids."""

from __future__ import annotations

import json
import socket
import time

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.stack import GatewayStack

LEAKED_HEADERS = ("grpc-status", "grpc-message", "grpc-accept-encoding", "x-gw-error")


def assert_json_error(response: requests.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, object] = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_health_has_the_documented_shape(stack: GatewayStack) -> None:
    response = requests.get(f"{stack.base_url}/health", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"ok", "version", "comfyui", "uptime"}
    assert body["ok"] is False  # no ComfyUI is listening at the configured URL
    assert body["comfyui"] == {"reachable": False, "url": stack.env["COMFYUI_URL"]}
    assert isinstance(body["uptime"], int | float)
    assert isinstance(body["version"], str)
    assert body["backends"][0]["url"] == stack.env["COMFYUI_URL"]
    for header in LEAKED_HEADERS:
        assert header not in response.headers


def test_capabilities_has_the_documented_shape(stack: GatewayStack) -> None:
    body = requests.get(f"{stack.base_url}/capabilities", timeout=5).json()
    assert set(body) >= {"workflows", "maxSize", "maxBatch", "formats", "storageProvider"}
    assert body["maxSize"] == 2048 and body["maxBatch"] == 4
    assert body["formats"] == ["png", "jpg", "webp"]
    assert body["storageProvider"] == "local"
    assert isinstance(body["workflows"], list)


def test_unknown_route_is_a_json_404(stack: GatewayStack) -> None:
    response = requests.get(f"{stack.base_url}/no/such/route", timeout=5)
    body = assert_json_error(response, 404, "ROUTE_NOT_FOUND")
    assert "/no/such/route" in str(body["message"])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/health", "GET, HEAD"),
        ("DELETE", "/jobs", "GET, HEAD, POST"),
        ("PUT", "/jobs/some-job/cancel", "POST"),
        ("POST", "/workflows/some-id", "GET, HEAD, PUT, DELETE"),
    ],
)
def test_undeclared_method_is_a_json_405_with_allow(
    stack: GatewayStack, method: str, path: str, allow: str
) -> None:
    response = requests.request(method, f"{stack.base_url}{path}", timeout=5)
    body = assert_json_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow
    assert method in str(body["message"])


def test_malformed_json_is_a_json_400_without_the_body(stack: GatewayStack) -> None:
    response = requests.post(
        f"{stack.base_url}/workflows",
        data=b'{"id": "x", "description": "SECRET-FRAGMENT",',
        headers={"content-type": "application/json"},
        timeout=5,
    )
    body = assert_json_error(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "The request body is not valid JSON for this route"
    assert "SECRET" not in response.text


def test_wrong_value_type_names_the_field_not_the_parser(stack: GatewayStack) -> None:
    response = requests.post(
        f"{stack.base_url}/jobs",
        data=b'{"workflowId": "icon_512", "inputs": "SECRET-FRAGMENT"}',
        headers={"content-type": "application/json"},
        timeout=5,
    )
    body = assert_json_error(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "Field 'inputs' has a value of the wrong type or form"
    assert "SECRET" not in response.text and "googleapis" not in response.text


def test_body_not_utf8_is_a_json_400(stack: GatewayStack) -> None:
    response = requests.post(
        f"{stack.base_url}/jobs",
        data=b'{"workflowId": "a\xff"}',
        headers={"content-type": "application/json"},
        timeout=5,
    )
    body = assert_json_error(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "The request body is not valid UTF-8"


@pytest.mark.parametrize(
    "path",
    [
        "/jobs/%FF",
        "/jobs?status=%FF",
        "/workflows/%C3%28",
        "/outputs/job/%E2%82",
        "/jobs?workflowId=%ED%A0%80",  # a UTF-16 surrogate
        "/jobs/%F4%90%80%80",  # above U+10FFFF
    ],
)
def test_path_or_query_not_utf8_is_a_json_400(stack: GatewayStack, path: str) -> None:
    counter = "http.rest.rbac.invalid_utf8_.denied"
    before = stack.envoy_stat(counter)
    response = requests.get(f"{stack.base_url}{path}", timeout=5)
    body = assert_json_error(response, 400, "VALIDATION_ERROR")
    assert "UTF-8" in str(body["message"])
    assert "DecodeError" not in response.text and "protobuf" not in response.text
    request_id = response.headers["x-request-id"]
    assert stack.envoy_stat(counter) == before + 1
    deadline = time.monotonic() + 30  # the edge flushes its access log every 500 ms
    while not (logged := [line for line in stack.log("envoy").splitlines() if request_id in line]):
        assert time.monotonic() < deadline, "the refusal was not logged"
        time.sleep(0.2)
    assert len(logged) == 1 and "not valid UTF-8" in logged[0]


def test_valid_utf8_passes_the_edge(stack: GatewayStack) -> None:
    response = requests.get(f"{stack.base_url}/jobs?workflowId=caf%C3%A9-%F0%9F%A6%8A", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 0


def test_oversized_path_is_a_json_414(stack: GatewayStack) -> None:
    response = requests.get(f"{stack.base_url}/jobs/{'a' * 9000}", timeout=5)
    assert_json_error(response, 414, "URI_TOO_LONG")
    query = requests.get(f"{stack.base_url}/no/such/route?q={'a' * 9000}", timeout=5)
    assert_json_error(query, 414, "URI_TOO_LONG")


@pytest.mark.parametrize("size", [12 * 1024, 20 * 1024, 40 * 1024])
def test_oversized_headers_never_answer_429(stack: GatewayStack, size: int) -> None:
    response = requests.get(f"{stack.base_url}/jobs", headers={"x-big": "a" * size}, timeout=5)
    if size > 32 * 1024:
        assert_json_error(response, 431, "HEADERS_TOO_LARGE")
    else:  # below the edge's limit the server takes them (its metadata limit is higher)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"],
)
@pytest.mark.parametrize(("method", "path"), [("POST", "/jobs"), ("PUT", "/workflows/w")])
def test_body_that_is_not_json_is_a_json_415(
    stack: GatewayStack, method: str, path: str, content_type: str
) -> None:
    response = requests.request(
        method,
        f"{stack.base_url}{path}",
        data=b"workflowId=icon_512",
        headers={"content-type": content_type},
        timeout=5,
    )
    assert_json_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_content_types_pass_the_edge(stack: GatewayStack, content_type: str) -> None:
    response = requests.post(
        f"{stack.base_url}/jobs",
        data=b'{"workflowId": "no-such-workflow"}',
        headers={"content-type": content_type},
        timeout=5,
    )
    assert_json_error(response, 404, "WORKFLOW_NOT_FOUND")


@pytest.mark.parametrize(("path", "status"), [("/health", 200), ("/jobs/no-such-job", 404)])
def test_head_answers_like_get_without_a_body(stack: GatewayStack, path: str, status: int) -> None:
    get = requests.get(f"{stack.base_url}{path}", timeout=5)
    head = requests.head(f"{stack.base_url}{path}", timeout=5)
    assert (head.status_code, get.status_code) == (status, status)
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_sends_no_body_on_a_kept_alive_connection(stack: GatewayStack) -> None:
    """HEAD then GET on one HTTP/1.1 connection: the HEAD answer keeps GET's
    Content-Length but carries no bytes, so the GET answer that follows is intact
    (clients such as requests throw a HEAD body away and cannot see this)."""
    get = requests.get(f"{stack.base_url}/capabilities", timeout=5)
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(
            b"HEAD /capabilities HTTP/1.1\r\nHost: gw\r\n\r\n"
            b"GET /capabilities HTTP/1.1\r\nHost: gw\r\n\r\n"
        )
        received = b""
        while received.count(b"HTTP/1.1 ") < 2 or not received.endswith(get.content):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed early: {received!r}"
            received += chunk
    head, rest = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert f"content-length: {len(get.content)}".encode() in head.lower()
    assert rest.startswith(b"HTTP/1.1 200"), rest[:80]  # no HEAD body in between
    assert rest.endswith(get.content)


def test_native_grpc_is_closed_on_the_rest_port(stack: GatewayStack) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{stack.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as closed:
            next(iter(reflection.ServerReflectionInfo(iter([request]), timeout=5)))
        assert closed.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_client_grpc_headers_are_stripped(stack: GatewayStack) -> None:
    # A 1 ns deadline would make every call DEADLINE_EXCEEDED if it reached the server.
    response = requests.get(f"{stack.base_url}/jobs", headers={"grpc-timeout": "1n"}, timeout=5)
    assert response.status_code == 200, response.text


def test_bad_query_value_is_a_json_400(stack: GatewayStack) -> None:
    response = requests.get(f"{stack.base_url}/jobs?limit=many", timeout=5)
    body = assert_json_error(response, 400, "VALIDATION_ERROR")
    assert "limit" in str(body["message"])


def test_oversized_body_is_a_json_413(stack: GatewayStack) -> None:
    payload = json.dumps({"id": "big", "description": "x" * (70 * 1024)})
    response = requests.post(
        f"{stack.base_url}/workflows",
        data=payload,
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_service_errors_carry_the_code_and_request_id(stack: GatewayStack) -> None:
    response = requests.get(
        f"{stack.base_url}/jobs/some-job", headers={"x-request-id": "req-123"}, timeout=5
    )
    assert response.status_code in (404, 501)
    assert response.json()["error"] in ("JOB_NOT_FOUND", "NOT_IMPLEMENTED")
    assert response.headers["x-request-id"] == "req-123"
    for header in LEAKED_HEADERS:
        assert header not in response.headers


def test_request_id_reaches_the_server_log(stack: GatewayStack) -> None:
    requests.get(f"{stack.base_url}/health", headers={"x-request-id": "trace-me-42"}, timeout=5)
    lines = [json.loads(line) for line in stack.log("server").splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("correlationId") == "trace-me-42"]
    assert calls, "no log line carries the correlation id"
    assert calls[-1]["method"] == "/comfyui_gateway.v1.GatewayService/GetHealth"
    assert calls[-1]["status"] == "OK"
    assert isinstance(calls[-1]["durationMs"], float)


def test_cors_preflight_allows_the_configured_origin(stack: GatewayStack) -> None:
    response = requests.options(
        f"{stack.base_url}/jobs",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-api-key" in response.headers["access-control-allow-headers"]
    assert "POST" in response.headers["access-control-allow-methods"]


def test_cors_refuses_other_origins(stack: GatewayStack) -> None:
    response = requests.options(
        f"{stack.base_url}/jobs",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_real_answers(stack: GatewayStack) -> None:
    response = requests.get(
        f"{stack.base_url}/health", headers={"Origin": "https://app.example"}, timeout=5
    )
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-ratelimit-remaining" in response.headers["access-control-expose-headers"]


def test_grpc_health_reports_serving(stack: GatewayStack) -> None:
    with grpc.insecure_channel(stack.grpc_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "comfyui_gateway.v1.JobService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(stack: GatewayStack) -> None:
    with grpc.insecure_channel(stack.grpc_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
        names = {service.name for service in reply.list_services_response.service}
    assert names >= {
        "comfyui_gateway.v1.GatewayService",
        "comfyui_gateway.v1.WorkflowService",
        "comfyui_gateway.v1.JobService",
        "comfyui_gateway.v1.OutputService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_envoy_validates_the_root_config() -> None:
    import subprocess
    from pathlib import Path

    from comfyui_gateway.cli.edge import envoy_binary

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", "envoy.yaml", "--disable-hot-restart"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OK" in result.stdout
