"""Rate limits across two server replicas sharing one Redis, behind one Envoy.

The window is short (RATE_LIMIT_WINDOW_MS=3000) and small (RATE_LIMIT_MAX=5) so the
test can exhaust it, read the headers, and wait for it to reset.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests

from comfyui_gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.integration.security_helpers import grpc_error_body, metadata_dict
from tests.stack import GatewayStack

LIMIT = 5
KEY_A = f"sk-rl-a-{uuid.uuid4().hex[:8]}"
KEY_B = f"sk-rl-b-{uuid.uuid4().hex[:8]}"
KEY_C = f"sk-rl-c-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("ratelimit")
    env = {
        "API_KEYS": f"{KEY_A}:user,{KEY_B}:user,{KEY_C}:admin",
        "RATE_LIMIT_MAX": str(LIMIT),
        "RATE_LIMIT_WINDOW_MS": "3000",
        # One Envoy worker: round robin is per worker thread, uncoordinated (Envoy FAQ);
        # the window test sends its calls to each replica itself.
        "ENVOY_WORKERS": "1",
    }
    with GatewayStack(workdir, env, servers=2) as running:
        yield running


def get(stack: GatewayStack, key: str | None, **headers: str) -> requests.Response:
    if key is not None:
        headers["X-API-Key"] = key
    return requests.get(f"{stack.base_url}/capabilities", headers=headers, timeout=10)


def _remaining_on(stack: GatewayStack, replica: int, key: str) -> str:
    """One GetCapabilities straight to server ``replica``: the calls its window has left."""
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_ports[replica]}") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        _, call = stub.GetCapabilities.with_call(
            gateway_pb2.GetCapabilitiesRequest(), metadata=(("x-api-key", key),), timeout=5
        )
    pairs: Any = [*(call.initial_metadata() or ()), *(call.trailing_metadata() or ())]
    return str(dict(pairs)["x-ratelimit-remaining"])


def test_one_window_across_both_replicas(stack: GatewayStack) -> None:
    # Straight to each replica in turn, so both count: Envoy's balancing need not
    # alternate a handful of calls (it once sent all five to one replica).
    remaining = [_remaining_on(stack, n % 2, KEY_A) for n in range(LIMIT - 1)]
    assert remaining == ["4", "3", "2", "1"]
    last = get(stack, KEY_A)  # the fifth, through Envoy to either replica
    assert last.status_code == 200
    assert last.headers["x-ratelimit-limit"] == str(LIMIT)
    assert last.headers["x-ratelimit-remaining"] == "0"

    refused = get(stack, KEY_A)
    assert refused.status_code == 429
    assert refused.json()["error"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 3
    assert refused.headers["x-ratelimit-limit"] == str(LIMIT)
    assert refused.headers["x-ratelimit-remaining"] == "0"

    # The same bucket over gRPC, straight to the second replica.
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_ports[1]}") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetCapabilities(
                gateway_pb2.GetCapabilitiesRequest(), metadata=(("x-api-key", KEY_A),), timeout=5
            )
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_error_body(raised.value)["error"] == "RATE_LIMITED"
    trailers = metadata_dict(raised.value)
    assert "retry-after" in trailers and trailers["x-ratelimit-remaining"] == "0"

    # Another key has its own counter.
    other = get(stack, KEY_B)
    assert other.status_code == 200 and other.headers["x-ratelimit-remaining"] == "4"

    time.sleep(int(refused.headers["retry-after"]) + 0.2)
    again = get(stack, KEY_A)
    assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "4"


def test_address_bucket_cannot_be_dodged_with_x_forwarded_for(stack: GatewayStack) -> None:
    """Unauthenticated (and failed) requests count against the client's address, which
    Envoy takes from the connection: a forged X-Forwarded-For changes nothing."""
    statuses = []
    for n in range(LIMIT + 1):
        spoofed = f"203.0.113.{n}"
        response = get(stack, None, **{"X-Forwarded-For": spoofed, "X-Real-IP": spoofed})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"] == "RATE_LIMITED"
            assert int(response.headers["retry-after"]) >= 1
            break
        assert response.status_code == 401
        assert response.json()["message"].startswith("Authentication required")
    assert statuses[-1] == 429, statuses


def test_key_guessing_meets_the_limit(stack: GatewayStack) -> None:
    time.sleep(3.2)  # a fresh address window
    statuses = [get(stack, f"guess-{n}").status_code for n in range(LIMIT + 2)]
    assert statuses[:LIMIT] == [401] * LIMIT
    assert statuses[LIMIT:] == [429, 429]
    # ...and a valid key still works: it has its own bucket.
    assert get(stack, KEY_C).status_code == 200
