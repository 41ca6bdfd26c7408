"""Shared pieces of the security tests: identities, tokens, REST and gRPC callers."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import requests

from comfyui_gateway.v1 import (
    audit_pb2_grpc,
    gateway_pb2_grpc,
    jobs_pb2_grpc,
    outputs_pb2_grpc,
    workflows_pb2_grpc,
)
from tests.stack import GatewayStack

JWT_SECRET = "jwt-secret-for-security-tests-" + "x" * 40
SMALL = {"width": 64, "height": 64, "steps": 3}


def make_token(secret: str = JWT_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + 3600, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm)


@dataclass(frozen=True)
class Identity:
    """One way of calling: headers for REST, the same as gRPC metadata."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def rest(self) -> dict[str, str]:
        return dict(self.headers)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return tuple((k.lower(), v) for k, v in self.headers)


def key_identity(name: str, key: str) -> Identity:
    return Identity(name, (("X-API-Key", key),))


def bearer_identity(name: str, token: str) -> Identity:
    return Identity(name, (("Authorization", f"Bearer {token}"),))


class Stubs:
    """Every service stub on one channel to the server."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
        self.workflows = workflows_pb2_grpc.WorkflowServiceStub(channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(channel)
        self.outputs = outputs_pb2_grpc.OutputServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)


def grpc_error_body(error: grpc.RpcError) -> dict[str, Any]:
    trailers = metadata_dict(error)
    body: dict[str, Any] = json.loads(trailers["x-gw-error"])
    return body


def metadata_dict(error: grpc.RpcError) -> dict[str, str]:
    """An RpcError's trailing metadata as text."""
    pairs: Any = error.trailing_metadata() or ()
    return {str(key): str(value) for key, value in pairs}


HTTP_FOR_GRPC = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
}


def submit_job(stack: GatewayStack, who: Identity, prompt: str) -> str:
    response = requests.post(
        f"{stack.base_url}/jobs",
        json={"workflowId": "sdxl_realism_v1", "inputs": {"prompt": prompt, **SMALL}},
        headers=who.rest,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def wait_for_job(stack: GatewayStack, who: Identity, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = requests.get(
            f"{stack.base_url}/jobs/{job_id}", headers=who.rest, timeout=5
        ).json()
        if job.get("status") in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
