"""Who may do what, over REST through Envoy and over gRPC: the authorization matrix.

One gateway with API keys (an admin, two users) and JWTs (a user and an admin). A
user's job is read, watched, cancelled, listed and downloaded by its owner, by the
other users (404: ids leak nothing) and by admins; admin-only calls answer 403 to
users; everything but /health answers 401 without credentials.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import struct_pb2

from comfyui_gateway.auth import key_id
from comfyui_gateway.v1 import (
    audit_pb2,
    gateway_pb2,
    jobs_pb2,
    outputs_pb2,
    workflows_pb2,
)
from tests.integration.security_helpers import (
    HTTP_FOR_GRPC,
    JWT_SECRET,
    SMALL,
    Identity,
    Stubs,
    bearer_identity,
    key_identity,
    make_token,
    submit_job,
    unique,
    wait_for_job,
)
from tests.stack import GatewayStack

ADMIN_KEY = "sk-admin-matrix-0d6f9a"
OWNER_KEY = "sk-user-owner-4b1c7e"
OTHER_KEY = "sk-user-other-92aa31"

NONE = Identity("none")
ADMIN = key_identity("admin", ADMIN_KEY)
OWNER = key_identity("owner", OWNER_KEY)
OTHER = key_identity("other", OTHER_KEY)
JWT_USER = bearer_identity("jwt_user", make_token(sub="carol", role="user"))
JWT_ADMIN = bearer_identity("jwt_admin", make_token(sub="root", role="admin"))
CALLERS = (NONE, OWNER, OTHER, JWT_USER, ADMIN, JWT_ADMIN)

BUNDLED = Path(__file__).resolve().parents[2] / "comfyui_gateway" / "workflows" / "bundled"
WORKFLOW_JSON = json.loads((BUNDLED / "icon_512.json").read_text())
INPUT_SCHEMA = json.loads((BUNDLED / "icon_512.schema.json").read_text())


@dataclass
class World:
    stack: GatewayStack
    stubs: Stubs
    job_id: str
    filename: str
    workflow_id: str
    created: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("security")
    env = {
        "API_KEYS": f"{ADMIN_KEY}:admin,{OWNER_KEY}:user,{OTHER_KEY}:user",
        "JWT_SECRET": JWT_SECRET,
    }
    with GatewayStack(workdir, env, emulator=True) as stack:
        stack.register_bundled_workflows()
        job_id = submit_job(stack, OWNER, "matrix fox")
        job = wait_for_job(stack, OWNER, job_id)
        assert job["status"] == "succeeded", job
        workflow_id = unique("sec_put")
        create_workflow(stack, workflow_id)
        with grpc.insecure_channel(stack.grpc_address) as channel:
            yield World(
                stack,
                Stubs(channel),
                job_id,
                job["outputs"][0]["url"].rsplit("/", 1)[1],
                workflow_id,
            )


def create_workflow(stack: GatewayStack, workflow_id: str) -> requests.Response:
    response = requests.post(
        f"{stack.base_url}/workflows",
        json={
            "id": workflow_id,
            "name": workflow_id,
            "workflowJson": WORKFLOW_JSON,
            "inputSchema": INPUT_SCHEMA,
        },
        headers=ADMIN.rest,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


# -- the endpoints: (REST call, gRPC call) ---------------------------------------------

RestCall = Callable[[World, Identity], requests.Response]
GrpcCall = Callable[[World, Identity], Any]


def rest(method: str, path: str, body: Callable[[World], Any] | None = None) -> RestCall:
    def call(world: World, who: Identity) -> requests.Response:
        url = world.stack.base_url + path.format(
            job=world.job_id, file=world.filename, wf=world.workflow_id
        )
        json_body = body(world) if body is not None else None
        return requests.request(method, url, json=json_body, headers=who.rest, timeout=10)

    return call


def new_workflow_body(world: World) -> dict[str, Any]:
    workflow_id = unique("sec_new")
    return {
        "id": workflow_id,
        "name": workflow_id,
        "workflowJson": WORKFLOW_JSON,
        "inputSchema": INPUT_SCHEMA,
    }


def rest_delete(world: World, who: Identity) -> requests.Response:
    target = world.workflow_id
    if who.name in ("admin", "jwt_admin"):  # admins really delete: give them their own
        target = unique("sec_del")
        create_workflow(world.stack, target)
    return requests.delete(
        f"{world.stack.base_url}/workflows/{target}", headers=who.rest, timeout=10
    )


def grpc_delete(world: World, who: Identity) -> Any:
    target = world.workflow_id
    if who.name in ("admin", "jwt_admin"):
        target = unique("sec_del")
        create_workflow(world.stack, target)
    request = workflows_pb2.DeleteWorkflowRequest(id=target)
    return world.stubs.workflows.DeleteWorkflow(request, metadata=who.metadata, timeout=10)


def job_request() -> jobs_pb2.CreateJobRequest:
    return jobs_pb2.CreateJobRequest(
        workflow_id="sdxl_realism_v1", inputs=struct({"prompt": "grpc fox", **SMALL})
    )


GRPC_CALLS: dict[str, GrpcCall] = {
    "health": lambda w, who: w.stubs.gateway.GetHealth(
        gateway_pb2.GetHealthRequest(), metadata=who.metadata, timeout=10
    ),
    "capabilities": lambda w, who: w.stubs.gateway.GetCapabilities(
        gateway_pb2.GetCapabilitiesRequest(), metadata=who.metadata, timeout=10
    ),
    "list_workflows": lambda w, who: w.stubs.workflows.ListWorkflows(
        workflows_pb2.ListWorkflowsRequest(), metadata=who.metadata, timeout=10
    ),
    "get_workflow": lambda w, who: w.stubs.workflows.GetWorkflow(
        workflows_pb2.GetWorkflowRequest(id="sdxl_realism_v1"), metadata=who.metadata, timeout=10
    ),
    "create_workflow": lambda w, who: w.stubs.workflows.CreateWorkflow(
        workflows_pb2.CreateWorkflowRequest(
            id=unique("sec_new"),
            name="n",
            workflow_json=struct(WORKFLOW_JSON),
            input_schema=struct(INPUT_SCHEMA),
        ),
        metadata=who.metadata,
        timeout=10,
    ),
    "update_workflow": lambda w, who: w.stubs.workflows.UpdateWorkflow(
        workflows_pb2.UpdateWorkflowRequest(id=w.workflow_id, description="changed"),
        metadata=who.metadata,
        timeout=10,
    ),
    "delete_workflow": grpc_delete,
    "create_job": lambda w, who: w.stubs.jobs.CreateJob(
        job_request(), metadata=who.metadata, timeout=10
    ),
    "list_jobs": lambda w, who: w.stubs.jobs.ListJobs(
        jobs_pb2.ListJobsRequest(), metadata=who.metadata, timeout=10
    ),
    "get_job": lambda w, who: w.stubs.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=w.job_id), metadata=who.metadata, timeout=10
    ),
    "cancel_job": lambda w, who: w.stubs.jobs.CancelJob(
        jobs_pb2.CancelJobRequest(job_id=w.job_id), metadata=who.metadata, timeout=10
    ),
    "job_logs": lambda w, who: w.stubs.jobs.GetJobLogs(
        jobs_pb2.GetJobLogsRequest(job_id=w.job_id), metadata=who.metadata, timeout=10
    ),
    "watch_job": lambda w, who: list(
        w.stubs.jobs.WatchJob(
            jobs_pb2.WatchJobRequest(job_id=w.job_id), metadata=who.metadata, timeout=10
        )
    ),
    "list_outputs": lambda w, who: w.stubs.outputs.ListOutputs(
        outputs_pb2.ListOutputsRequest(job_id=w.job_id), metadata=who.metadata, timeout=10
    ),
    "download_output": lambda w, who: list(
        w.stubs.outputs.DownloadOutput(
            outputs_pb2.DownloadOutputRequest(job_id=w.job_id, filename=w.filename),
            metadata=who.metadata,
            timeout=10,
        )
    ),
    "audit": lambda w, who: w.stubs.audit.ListAuditEntries(
        audit_pb2.ListAuditEntriesRequest(), metadata=who.metadata, timeout=10
    ),
}

REST_CALLS: dict[str, RestCall] = {
    "health": rest("GET", "/health"),
    "capabilities": rest("GET", "/capabilities"),
    "list_workflows": rest("GET", "/workflows"),
    "get_workflow": rest("GET", "/workflows/sdxl_realism_v1"),
    "create_workflow": rest("POST", "/workflows", new_workflow_body),
    "update_workflow": rest("PUT", "/workflows/{wf}", lambda w: {"description": "changed"}),
    "delete_workflow": rest_delete,
    "create_job": rest(
        "POST",
        "/jobs",
        lambda w: {"workflowId": "sdxl_realism_v1", "inputs": {"prompt": "rest fox", **SMALL}},
    ),
    "list_jobs": rest("GET", "/jobs"),
    "get_job": rest("GET", "/jobs/{job}"),
    "cancel_job": rest("POST", "/jobs/{job}/cancel", lambda w: {}),
    "job_logs": rest("GET", "/jobs/{job}/logs"),
    "watch_job": rest("GET", "/jobs/{job}/events"),
    "list_outputs": rest("GET", "/outputs/{job}"),
    "download_output": rest("GET", "/outputs/{job}/{file}"),
    "audit": rest("GET", "/audit"),
}

OPEN = dict.fromkeys(("none", "owner", "other", "jwt_user", "admin", "jwt_admin"), 200)
USER = {**OPEN, "none": 401}
ADMIN_ONLY = {
    "none": 401,
    "owner": 403,
    "other": 403,
    "jwt_user": 403,
    "admin": 200,
    "jwt_admin": 200,
}
OWNED = {"none": 401, "owner": 200, "other": 404, "jwt_user": 404, "admin": 200, "jwt_admin": 200}

EXPECTED: dict[str, dict[str, int]] = {
    "health": OPEN,
    "capabilities": USER,
    "list_workflows": USER,
    "get_workflow": USER,
    "create_workflow": {**ADMIN_ONLY, "admin": 201, "jwt_admin": 201},
    "update_workflow": ADMIN_ONLY,
    "delete_workflow": {**ADMIN_ONLY, "admin": 204, "jwt_admin": 204},
    "create_job": {
        **USER,
        "owner": 202,
        "other": 202,
        "jwt_user": 202,
        "admin": 202,
        "jwt_admin": 202,
    },
    "list_jobs": USER,
    "get_job": OWNED,
    # The job has finished: its owner and admins hear 409, others still 404.
    "cancel_job": {**OWNED, "owner": 409, "admin": 409, "jwt_admin": 409},
    "job_logs": OWNED,
    "watch_job": OWNED,
    "list_outputs": OWNED,
    "download_output": OWNED,
    "audit": ADMIN_ONLY,
}
MESSAGES = {
    401: (
        "AUTH_FAILED",
        "Authentication required. Provide X-API-Key header or Authorization: Bearer token.",
    ),
    403: ("FORBIDDEN", "Admin role required for this operation"),
}

CASES = [(endpoint, who) for endpoint in EXPECTED for who in CALLERS]
IDS = [f"{endpoint}-{who.name}" for endpoint, who in CASES]


@pytest.mark.parametrize(("endpoint", "who"), CASES, ids=IDS)
def test_rest_matrix(world: World, endpoint: str, who: Identity) -> None:
    expected = EXPECTED[endpoint][who.name]
    response = REST_CALLS[endpoint](world, who)
    assert response.status_code == expected, response.text
    if expected in MESSAGES:
        assert response.json() == dict(zip(("error", "message"), MESSAGES[expected], strict=True))
    if expected == 404:
        assert response.json()["error"] == "JOB_NOT_FOUND"
        assert world.job_id in response.json()["message"]  # the id asked, nothing more
    assert response.headers["x-ratelimit-limit"] == "1000000"
    assert "x-ratelimit-remaining" in response.headers


@pytest.mark.parametrize(("endpoint", "who"), CASES, ids=IDS)
def test_grpc_matrix(world: World, endpoint: str, who: Identity) -> None:
    expected = EXPECTED[endpoint][who.name]
    try:
        GRPC_CALLS[endpoint](world, who)
        status = 200
    except grpc.RpcError as error:
        status = HTTP_FOR_GRPC[error.code()]
        from tests.integration.security_helpers import grpc_error_body

        body = grpc_error_body(error)
        if status in MESSAGES:
            assert (body["error"], body["message"]) == MESSAGES[status]
    assert status == (200 if expected in (201, 202, 204) else expected)


def test_users_list_only_their_own_jobs(world: World) -> None:
    def ids(who: Identity) -> set[str]:
        response = requests.get(
            f"{world.stack.base_url}/jobs?limit=500", headers=who.rest, timeout=10
        )
        assert response.status_code == 200
        return {job["jobId"] for job in response.json()["jobs"]}

    own = submit_job(world.stack, OTHER, "other's fox")
    assert world.job_id in ids(OWNER) and own not in ids(OWNER)
    assert own in ids(OTHER) and world.job_id not in ids(OTHER)
    assert {world.job_id, own} <= ids(ADMIN)
    with_filter = requests.get(
        f"{world.stack.base_url}/jobs?status=succeeded&limit=500", headers=JWT_USER.rest, timeout=10
    ).json()
    assert world.job_id not in {job["jobId"] for job in with_filter["jobs"]}


def test_owner_is_a_key_id_not_the_key(world: World) -> None:
    log = world.stack.log("server")
    for key in (ADMIN_KEY, OWNER_KEY, OTHER_KEY, JWT_SECRET):
        assert key not in log
    database = (world.stack.workdir / "gateway.db").read_bytes()
    wal = world.stack.workdir / "gateway.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    for key in (ADMIN_KEY, OWNER_KEY, OTHER_KEY):
        assert key.encode() not in stored
    assert key_id(OWNER_KEY).encode() in stored


# -- JWT edge cases, over REST and gRPC ----------------------------------------------------

OTHER_SECRET = "a-different-secret-for-security-tests-" + "y" * 40


def rs256_token() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return make_token(pem.decode(), "RS256", sub="mallory", role="admin")


def none_token() -> str:
    import jwt

    return jwt.encode({"sub": "mallory", "role": "admin", "exp": 4102444800}, "", "none")


JWT_REFUSALS = {
    "expired": (make_token(sub="carol", role="user", exp=1), "JWT token has expired"),
    "wrong secret": (make_token(OTHER_SECRET, sub="carol", role="admin"), "Invalid JWT signature"),
    "alg none": (none_token(), "Invalid JWT signature"),
    "HS512": (make_token(algorithm="HS512", sub="carol", role="admin"), "Invalid JWT signature"),
    "RS256": (rs256_token(), "Invalid JWT signature"),
    "nbf in the future": (
        make_token(sub="carol", role="user", nbf=4102444800),
        "JWT token is not yet valid",
    ),
    "no exp": (
        make_token(sub="carol", role="user", exp=None),
        "JWT token is missing the 'exp' claim",
    ),
    "no sub": (make_token(role="user"), "JWT token is missing the 'sub' claim"),
    "no role": (make_token(sub="carol"), "JWT token is missing the 'role' claim"),
    "bad role": (make_token(sub="carol", role="superuser"), "JWT role claim must be admin or user"),
    "garbage": ("abc.def.ghi", "Invalid JWT token"),
    "bad api key": ("", "Invalid API key"),
}


def refused_identity(case: str) -> Identity:
    token, _ = JWT_REFUSALS[case]
    if case == "bad api key":
        return key_identity("bad", OWNER_KEY + "x")
    return bearer_identity(case, token)


@pytest.mark.parametrize("case", list(JWT_REFUSALS))
@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_bad_credentials_are_refused(world: World, case: str, transport: str) -> None:
    who = refused_identity(case)
    message = JWT_REFUSALS[case][1]
    if transport == "rest":
        response = REST_CALLS["get_job"](world, who)
        assert response.status_code == 401
        assert response.json() == {"error": "AUTH_FAILED", "message": message}
        # /health stays open even with bad credentials
        assert REST_CALLS["health"](world, who).status_code == 200
        return
    with pytest.raises(grpc.RpcError) as raised:
        GRPC_CALLS["watch_job"](world, who)
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    from tests.integration.security_helpers import grpc_error_body

    assert grpc_error_body(raised.value) == {"error": "AUTH_FAILED", "message": message}


# -- traversal and hostile ids ------------------------------------------------------------

TRAVERSALS = [
    "/outputs/{job}/..%2F..%2Fgateway.db",
    "/outputs/{job}/%2Fetc%2Fpasswd",
    "/outputs/{job}/..%2F{job}%2F{file}",
    "/outputs/{job}/%2e%2e%2f%2e%2e%2fgateway.db",
    "/outputs/{job}/..%5C..%5Cgateway.db",
    "/outputs/{job}/../../gateway.db",
    "/outputs/..%2F..%2Fgateway.db/{file}",
    "/outputs/%2Fetc/passwd",
    "/jobs/..%2F..%2Fgateway.db",
    "/jobs/{job}%00",
    "/workflows/..%2F..%2Fetc%2Fpasswd",
    "/outputs/{job}/" + "a" * 2000,
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_rest_traversal_is_refused(world: World, path: str) -> None:
    url = world.stack.base_url + path.format(job=world.job_id, file=world.filename)
    response = requests.get(url, headers=ADMIN.rest, timeout=10)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] in (
        "VALIDATION_ERROR",
        "OUTPUT_NOT_FOUND",
        "JOB_NOT_FOUND",
        "WORKFLOW_NOT_FOUND",
        "ROUTE_NOT_FOUND",
    )
    assert b"SQLite format" not in response.content and b"root:" not in response.content


@pytest.mark.parametrize(
    "filename",
    ["../../gateway.db", "/etc/passwd", "..\\..\\gateway.db", "%2e%2e%2fgateway.db", "", "."],
)
def test_grpc_traversal_is_refused(world: World, filename: str) -> None:
    request = outputs_pb2.DownloadOutputRequest(job_id=world.job_id, filename=filename)
    with pytest.raises(grpc.RpcError) as raised:
        list(world.stubs.outputs.DownloadOutput(request, metadata=ADMIN.metadata, timeout=10))
    assert raised.value.code() in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


@pytest.mark.parametrize("job_id", ["../x", "/etc/passwd", "' OR '1'='1", "x" * 5000, ""])
def test_grpc_hostile_job_ids(world: World, job_id: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        world.stubs.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), metadata=ADMIN.metadata)
    assert raised.value.code() in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
    )


# -- the audit log -------------------------------------------------------------------------


def test_audit_log_records_admin_actions_and_refusals(world: World) -> None:
    base = world.stack.base_url
    requests.get(f"{base}/jobs", headers={"X-API-Key": "guess-1"}, timeout=10)
    requests.get(f"{base}/jobs", headers={"X-API-Key": "guess-2"}, timeout=10)
    requests.delete(f"{base}/workflows/{world.workflow_id}", headers=OTHER.rest, timeout=10)
    created = unique("sec_audit")
    create_workflow(world.stack, created)

    def entries(query: str, who: Identity = ADMIN) -> list[dict[str, Any]]:
        response = requests.get(f"{base}/audit?{query}", headers=who.rest, timeout=10)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["entries"]
        return found

    failures = entries("action=auth.failure&actor=ip:127.0.0.1")
    assert failures and failures[0]["outcome"] == "denied"
    assert failures[0]["details"]["reason"] in ("Invalid API key", MESSAGES[401][1])
    assert all(e["actor"] == "ip:127.0.0.1" for e in failures)
    forbidden = entries(f"action=auth.forbidden&actor={key_id(OTHER_KEY)}")
    # Aggregated per caller and window: the row names the first refused method.
    assert forbidden and forbidden[0]["target"].startswith("/comfyui_gateway.v1.")
    assert forbidden[0]["details"] == {"reason": "role", "count": 1}
    creates = entries(f"action=workflow.create&actor={key_id(ADMIN_KEY)}&limit=500")
    assert created in {e["target"] for e in creates}
    assert {"id", "timestamp", "actor", "action", "target", "outcome"} <= set(creates[0])
    everything = json.dumps(entries("limit=500"))
    assert "guess-1" not in everything and ADMIN_KEY not in everything
    limited = entries("limit=1")
    assert len(limited) == 1
    bad = requests.get(f"{base}/audit?limit=100000", headers=ADMIN.rest, timeout=10)
    assert bad.status_code == 400
    later = entries("after=2999-01-01T00:00:00Z")
    assert later == []


# -- callback URLs (the policy is comfyui_gateway/webhooks/policy.py) ---------------------

BAD_CALLBACKS = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://example.com/x",
    "javascript:alert(1)",
    "http://",
    "not a url",
]


@pytest.mark.parametrize("callback", BAD_CALLBACKS)
def test_non_http_callbacks_are_refused(world: World, callback: str) -> None:
    body = {
        "workflowId": "sdxl_realism_v1",
        "inputs": {"prompt": "ssrf fox", **SMALL},
        "callbackUrl": callback,
    }
    response = requests.post(
        f"{world.stack.base_url}/jobs", json=body, headers=OWNER.rest, timeout=10
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "VALIDATION_ERROR"
    request = job_request()
    request.callback_url = callback
    with pytest.raises(grpc.RpcError) as raised:
        world.stubs.jobs.CreateJob(request, metadata=OWNER.metadata, timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_jwt_time_claims_as_strings_are_refused(world: World, claim: str) -> None:
    now = int(time.time())
    value = {"exp": now + 3600, "nbf": now - 60, "iat": now}[claim]
    bearer = make_token(sub="strings", role="admin", **{claim: str(value)})
    response = requests.get(
        f"{world.stack.base_url}/jobs", headers={"Authorization": f"Bearer {bearer}"}, timeout=10
    )
    assert response.status_code == 401, response.text
    assert "must be numbers" in response.json()["message"]
    with pytest.raises(grpc.RpcError) as refused:
        world.stubs.jobs.ListJobs(
            jobs_pb2.ListJobsRequest(), metadata=(("authorization", f"Bearer {bearer}"),)
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
