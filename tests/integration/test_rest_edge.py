"""The REST edge through a real Envoy: shapes, errors Envoy makes itself, CORS, ids."""

from __future__ import annotations

import json

import grpc
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


def test_wrong_method_is_a_json_404(stack: GatewayStack) -> None:
    response = requests.patch(f"{stack.base_url}/health", timeout=5)
    assert_json_error(response, 404, "ROUTE_NOT_FOUND")


def test_malformed_json_is_a_json_400(stack: GatewayStack) -> None:
    response = requests.post(
        f"{stack.base_url}/workflows",
        data=b'{"id": "x",',
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert_json_error(response, 400, "VALIDATION_ERROR")


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
