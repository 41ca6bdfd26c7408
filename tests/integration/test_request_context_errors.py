"""An unexpected exception answers INTERNAL with no stack trace and no detail of it; a
unary success carries its REST status and headers in the trailers, sent with it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from comfyui_gateway.auth import Authenticator
from comfyui_gateway.config import load_settings
from comfyui_gateway.ratelimit import MemoryRateLimiter
from server.call_scope import reply_with_status
from server.interceptors.admission import Admission
from server.interceptors.request_context import RequestContextInterceptor

SECRET_DETAIL = "password=hunter2 at /srv/app/secret.py line 42"


async def explode(request: bytes, context: Any) -> bytes:
    raise RuntimeError(SECRET_DETAIL)


async def accept(request: bytes, context: Any) -> bytes:
    reply_with_status(202)
    return b"accepted"


@pytest.fixture
async def address() -> AsyncIterator[str]:
    admission = Admission(
        Authenticator.from_settings(load_settings(None, API_KEYS="sk-test-key:user")),
        MemoryRateLimiter(100, 60_000),
    )
    server = grpc.aio.server(interceptors=[RequestContextInterceptor(admission)])
    handler = grpc.method_handlers_generic_handler(
        "test.Boom",
        {
            "Explode": grpc.unary_unary_rpc_method_handler(
                explode, request_deserializer=None, response_serializer=None
            ),
            "Accept": grpc.unary_unary_rpc_method_handler(
                accept, request_deserializer=None, response_serializer=None
            ),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def test_internal_error_hides_the_trace(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call: Any = channel.unary_unary("/test.Boom/Explode")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"", metadata=(("x-api-key", "sk-test-key"), ("x-request-id", "rid-1")))
    error = raised.value
    assert error.code() is grpc.StatusCode.INTERNAL
    trailers = dict(error.trailing_metadata() or ())
    body = json.loads(str(trailers["x-gw-error"]))
    assert body == {"error": "INTERNAL", "message": "Internal error (correlation id rid-1)"}
    everything = f"{error.details()} {trailers}"
    assert "Traceback" not in everything and "hunter2" not in everything
    assert "secret.py" not in everything


async def test_unauthenticated_call_never_reaches_the_handler(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call: Any = channel.unary_unary("/test.Boom/Explode")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"", metadata=(("x-api-key", "wrong"),))
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    trailers = dict(raised.value.trailing_metadata() or ())
    assert json.loads(str(trailers["x-gw-error"]))["message"] == "Invalid API key"
    assert trailers["x-ratelimit-limit"] == "100"


async def test_unary_success_sends_its_headers_with_the_answer(address: str) -> None:
    """Nothing goes ahead of the message: a replica killed mid-answer must leave Envoy
    with no half-sent answer (which it could not retry elsewhere)."""
    async with grpc.aio.insecure_channel(address) as channel:
        accept_rpc: Any = channel.unary_unary("/test.Boom/Accept")
        call = accept_rpc(b"", metadata=(("x-api-key", "sk-test-key"), ("x-request-id", "rid-2")))
        assert await call == b"accepted"
        initial = dict(await call.initial_metadata() or ())
        trailers = dict(await call.trailing_metadata() or ())
    assert not {"x-request-id", "x-gw-http-status", "x-ratelimit-limit"} & set(initial)
    assert trailers["x-request-id"] == "rid-2" and trailers["x-gw-http-status"] == "202"
    assert trailers["x-ratelimit-limit"] == "100"
