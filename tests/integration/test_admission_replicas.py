"""Quotas and back-pressure across two server replicas sharing one Redis, behind Envoy.

No workers run, so every accepted job stays queued: active quotas and the queue depth
fill up and stay full while the tests read the answers. Each test uses its own API
key (and priority, for the queue), so they do not share counts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import grpc
import pytest
import requests
from comfyui_gateway_client import GatewayClient, QuotaExceeded
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from comfyui_gateway.auth import key_id
from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.security_helpers import grpc_error_body, metadata_dict
from tests.stack import GatewayStack

ADMIN = f"sk-adm-{uuid.uuid4().hex[:8]}"
ACTIVE = f"sk-act-{uuid.uuid4().hex[:8]}"
DAILY = f"sk-day-{uuid.uuid4().hex[:8]}"
GRPC_ACTIVE = f"sk-gra-{uuid.uuid4().hex[:8]}"
PLAIN = f"sk-pln-{uuid.uuid4().hex[:8]}"
LOW_DEPTH = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("admission")
    keys = [f"{ADMIN}:admin", *(f"{k}:user" for k in (ACTIVE, DAILY, GRPC_ACTIVE, PLAIN))]
    overrides = ";".join(
        [
            f"{key_id(ACTIVE)}=active:3",
            f"{key_id(DAILY)}=daily:2",
            f"{key_id(GRPC_ACTIVE)}=active:1",
        ]
    )
    env = {
        "API_KEYS": ",".join(keys),
        "QUOTA_MAX_ACTIVE_JOBS": "0",
        "QUOTA_OVERRIDES": overrides,
        "MAX_QUEUE_DEPTH": f"low:{LOW_DEPTH}",
        # One Envoy worker: round robin is per worker thread, uncoordinated (Envoy FAQ,
        # "Why doesn't RR load balancing appear to be even?"). The tests that need both
        # replicas to take calls send some straight to the second one.
        "ENVOY_WORKERS": "1",
    }
    with GatewayStack(workdir, env, servers=2) as running:
        running.register_bundled_workflows()
        yield running


def body(priority: str = "normal") -> dict[str, Any]:
    return {
        "workflowId": "icon_512",
        "inputs": {"prompt": "a fox", "seed": -1},
        "priority": priority,
    }


def post(stack: GatewayStack, key: str, payload: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{stack.base_url}/jobs", json=payload, headers={"X-API-Key": key}, timeout=30
    )


def _create_on_second_replica(stack: GatewayStack, key: str) -> tuple[int, int]:
    """CreateJob straight to the second replica: (202 or 429, quota remaining)."""
    inputs = struct_pb2.Struct()
    inputs.update(body()["inputs"])
    request = jobs_pb2.CreateJobRequest(workflow_id="icon_512", inputs=inputs)
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_ports[1]}") as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        try:
            _, call = stub.CreateJob.with_call(request, metadata=(("x-api-key", key),), timeout=30)
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error
            return 429, int(metadata_dict(error)["x-quota-active-remaining"])
    return 202, int(dict(call.trailing_metadata())["x-quota-active-remaining"])


def test_active_quota_is_atomic_across_replicas(stack: GatewayStack) -> None:
    """Ten concurrent creates: five through Envoy (to either replica), five straight to
    the second replica, so both replicas take some at once whatever Envoy's balancing
    does with a handful of calls (it once sent all ten to one, with one worker thread
    too)."""
    with ThreadPoolExecutor(max_workers=10) as pool:
        through_envoy = [pool.submit(post, stack, ACTIVE, body()) for _ in range(5)]
        direct = [pool.submit(_create_on_second_replica, stack, ACTIVE) for _ in range(5)]
        answers = [future.result() for future in through_envoy]
        direct_answers = [future.result() for future in direct]
    statuses = sorted([a.status_code for a in answers] + [status for status, _ in direct_answers])
    assert statuses == [202] * 3 + [429] * 7, [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 429)  # 3 accepted: 2+ of these 5
    assert refused.json()["error"] == "QUOTA_EXCEEDED"
    assert refused.json()["details"] == {"quota": "active", "limit": 3}
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-quota-active-limit"] == "3"
    assert refused.headers["x-quota-active-remaining"] == "0"
    accepted = [int(a.headers["x-quota-active-remaining"]) for a in answers if a.ok]
    accepted += [remaining for status, remaining in direct_answers if status == 202]
    assert sorted(accepted) == [0, 1, 2]
    # Exactly 3 jobs exist.
    listed = requests.get(
        f"{stack.base_url}/jobs", headers={"X-API-Key": ACTIVE}, timeout=10
    ).json()
    assert listed["count"] == 3

    # Cancelling one frees its slot: the refused caller's ids are re-checked lazily.
    job_id = listed["jobs"][0]["jobId"]
    cancel = requests.post(
        f"{stack.base_url}/jobs/{job_id}/cancel", json={}, headers={"X-API-Key": ACTIVE}, timeout=10
    )
    assert cancel.status_code == 200
    again = post(stack, ACTIVE, body())
    assert again.status_code == 202, again.text
    assert again.headers["x-quota-active-remaining"] == "0"


def test_a_replayed_request_id_never_counts_twice(stack: GatewayStack) -> None:
    payload = {**body(), "metadata": {"requestId": f"r-{uuid.uuid4().hex}"}}
    first = post(stack, DAILY, payload)
    replays = [post(stack, DAILY, payload) for _ in range(3)]
    assert first.status_code == 202
    assert {r.json()["jobId"] for r in replays} == {first.json()["jobId"]}
    assert first.headers["x-quota-daily-remaining"] == "1"
    second = post(stack, DAILY, body())
    assert second.status_code == 202 and second.headers["x-quota-daily-remaining"] == "0"
    # The daily window does not care that jobs finish: cancelling frees nothing.
    requests.post(
        f"{stack.base_url}/jobs/{second.json()['jobId']}/cancel",
        json={},
        headers={"X-API-Key": DAILY},
        timeout=10,
    )
    refused = post(stack, DAILY, body())
    assert refused.status_code == 429, refused.text
    assert refused.json()["details"] == {"quota": "daily", "limit": 2}
    # The oldest admission leaves the rolling 24 h window in (just under) a day.
    assert 86_000 <= int(refused.headers["retry-after"]) <= 86_400
    assert refused.headers["x-quota-daily-remaining"] == "0"

    # The Python client raises it typed, at once: a day is past any retry policy's wait.
    with GatewayClient(stack.grpc_address, api_key=DAILY) as client:
        started = time.monotonic()
        with pytest.raises(QuotaExceeded) as raised:
            client.submit("icon_512", {"prompt": "a fox", "seed": -1})
    assert raised.value.retry_after_s >= 86_000 and time.monotonic() - started < 5


def test_quota_over_grpc_carries_trailers_and_admins_are_exempt(stack: GatewayStack) -> None:
    inputs = struct_pb2.Struct()
    inputs.update({"prompt": "a fox", "seed": -1})
    request = jobs_pb2.CreateJobRequest(workflow_id="icon_512", inputs=inputs)
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_ports[1]}") as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        created, call = stub.CreateJob.with_call(
            request, metadata=(("x-api-key", GRPC_ACTIVE),), timeout=10
        )
        assert created.status == "queued" and created.queue_position >= 1
        assert dict(call.trailing_metadata())["x-quota-active-remaining"] == "0"
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateJob(request, metadata=(("x-api-key", GRPC_ACTIVE),), timeout=10)
        for _ in range(3):  # the admin is unlimited
            stub.CreateJob(request, metadata=(("x-api-key", ADMIN),), timeout=10)
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_error_body(raised.value)["error"] == "QUOTA_EXCEEDED"
    trailers = metadata_dict(raised.value)
    assert int(trailers["retry-after"]) >= 1
    assert trailers["x-quota-active-limit"] == "1" and trailers["x-quota-active-remaining"] == "0"
    # The standard rich status says the same to any gRPC client.
    details = rich_details(raised.value)
    assert details["ErrorInfo"].reason == "QUOTA_EXCEEDED"
    assert details["RetryInfo"].retry_delay.seconds == int(trailers["retry-after"])
    assert details["QuotaFailure"].violations[0].subject == "active"


def test_queue_full_over_rest_and_grpc_stores_nothing_and_is_not_retried(
    stack: GatewayStack,
) -> None:
    for _ in range(LOW_DEPTH):
        assert post(stack, PLAIN, body("low")).status_code == 202
    before = _count(stack, PLAIN)
    retries = stack.envoy_stat("cluster.grpc_server.upstream_rq_retry")
    refused = post(stack, PLAIN, body("low"))
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "QUEUE_FULL"
    assert int(refused.headers["retry-after"]) >= 1
    assert stack.envoy_stat("cluster.grpc_server.upstream_rq_retry") == retries
    # Other priorities have no limit of their own here.
    assert post(stack, PLAIN, body("high")).status_code == 202

    inputs = struct_pb2.Struct()
    inputs.update({"prompt": "a fox", "seed": -1})
    with grpc.insecure_channel(stack.grpc_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateJob(
                jobs_pb2.CreateJobRequest(workflow_id="icon_512", inputs=inputs, priority="low"),
                metadata=(("x-api-key", PLAIN),),
                timeout=10,
            )
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_error_body(raised.value)["error"] == "QUEUE_FULL"
    assert int(metadata_dict(raised.value)["retry-after"]) >= 1
    assert rich_details(raised.value)["ErrorInfo"].reason == "QUEUE_FULL"
    assert _count(stack, PLAIN) == before + 1  # the high one only

    metrics = requests.get(
        f"{stack.base_url}/metrics", headers={"X-API-Key": ADMIN}, timeout=10
    ).text
    assert 'comfyui_gateway_admission_rejections_total{reason="queue_full"} 2.0' in metrics
    assert 'comfyui_gateway_admission_rejections_total{reason="quota_active"}' in metrics


def rich_details(error: grpc.RpcError) -> dict[str, Any]:
    """The ``google.rpc.Status`` details of a failed call, by message type name."""
    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    found: dict[str, Any] = {}
    for packed in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
        ):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found[kind.__name__] = message
    return found


def _count(stack: GatewayStack, key: str) -> int:
    answer = requests.get(f"{stack.base_url}/jobs", headers={"X-API-Key": key}, timeout=10)
    count: int = answer.json()["count"]
    return count
