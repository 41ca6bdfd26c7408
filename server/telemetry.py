"""The outermost interceptor: one server span per call, and the refusal counters.

It runs outside the request-context interceptor, so its span covers admission
(authentication, rate limit) as well as the service, every log line of the call
carries the span's ids, and it sees each call's final status — including the
refusals admission makes before any service runs. The span continues the client's
W3C ``traceparent`` (Envoy forwards it as metadata; with none, Envoy's request starts
the trace here) and records Envoy's ``x-request-id`` as the correlation id.

Counted from the documented error code in the ``x-gw-error`` trailer: ``RATE_LIMITED``
→ rate-limit rejections, ``AUTH_FAILED``/``FORBIDDEN`` → auth failures.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc
from opentelemetry.trace import Span, SpanKind

from comfyui_gateway.metrics import Counters, catalogue
from comfyui_gateway.tracing import extract_context, mark_error, tracer
from server.call_scope import ERROR_BODY_KEY, REQUEST_ID_KEY

Context = grpc.aio.ServicerContext[Any, Any]
UnaryHandler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]

UNTRACED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""Envoy health-checks every upstream every 2 s: tracing those would drown real calls."""

REFUSALS: dict[str, tuple[str, dict[str, str]]] = {
    "RATE_LIMITED": (catalogue.RATE_LIMIT_REJECTIONS.name, {}),
    "AUTH_FAILED": (catalogue.AUTH_FAILURES.name, {"reason": "unauthenticated"}),
    "FORBIDDEN": (catalogue.AUTH_FAILURES.name, {"reason": "forbidden"}),
}


class TelemetryInterceptor(grpc.aio.ServerInterceptor):
    """See the module docstring. ``counters`` None: spans only."""

    def __init__(self, counters: Counters | None = None) -> None:
        self._counters = counters

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(UNTRACED_PREFIXES):
            return handler
        if handler.unary_unary and inspect.iscoroutinefunction(handler.unary_unary):
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, cast(UnaryHandler, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client streaming (UploadService.CreateUpload): the request is an async iterator.
        if handler.stream_unary and inspect.iscoroutinefunction(handler.stream_unary):
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, cast(UnaryHandler, handler.stream_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream and inspect.isasyncgenfunction(handler.unary_stream):
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, cast(StreamHandler, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, method: str, inner: UnaryHandler) -> UnaryHandler:
        async def handle(request: Any, context: Context) -> Any:
            with _server_span(method, context) as span:
                try:
                    return await inner(request, context)
                finally:
                    await self._finish(span, context)

        return handle

    def _stream(self, method: str, inner: StreamHandler) -> StreamHandler:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            with _server_span(method, context) as span:
                try:
                    async for message in inner(request, context):
                        yield message
                finally:
                    await self._finish(span, context)

        return handle

    async def _finish(self, span: Span, context: Context) -> None:
        code = _error_code(context)
        if code is None:
            return
        mark_error(code, span=span)
        refusal = REFUSALS.get(code)
        if refusal is not None and self._counters is not None:
            name, labels = refusal
            await self._counters.increment(name, labels)


def _metadata(context: Context) -> dict[str, str]:
    return {
        key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
    }


def _server_span(method: str, context: Context) -> Any:
    metadata = _metadata(context)
    service, _, rpc = method.lstrip("/").partition("/")
    return tracer().start_as_current_span(
        f"{service}/{rpc}",
        context=extract_context(metadata),
        kind=SpanKind.SERVER,
        attributes={
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": rpc,
            "gateway.correlation_id": metadata.get(REQUEST_ID_KEY, ""),
        },
        record_exception=False,
        set_status_on_exception=False,
    )


def _error_code(context: Context) -> str | None:
    """The documented error code the call ended with, if it failed."""
    try:
        trailers = context.trailing_metadata() or ()
    except Exception:  # older grpcio: no getter; no code then
        return None
    for key, value in trailers:
        if key == ERROR_BODY_KEY:
            try:
                body = json.loads(value)
            except (TypeError, ValueError):
                return "INTERNAL"
            return str(body.get("error", "INTERNAL"))
    return None


__all__ = ["TelemetryInterceptor"]
