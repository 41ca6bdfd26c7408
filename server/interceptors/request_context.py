"""The request-context interceptor: correlation id, one JSON log line per call, errors.

Every unary, client-streaming and server-streaming handler runs inside a ``CallScope``. The
interceptor takes the correlation id from Envoy's ``x-request-id`` (or makes one),
runs the ``Admission`` checks (credentials, rate limit) and refuses a path variable
overridden by a query or body field (``server.path_bindings``) before the service, sends
the scope's success metadata (HTTP status, headers) — as trailers of a unary answer, so
headers, message and trailers leave in one write (envoy.yaml, "unary successes"); with
the first message of a stream — and
turns any exception into the documented error: a ``GatewayError`` keeps its code,
anything else becomes ``INTERNAL`` with no stack trace in the answer (the trace goes
to the log, under the same correlation id).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc

from comfyui_gateway.errors import Forbidden, GatewayError
from comfyui_gateway.logs import correlation_id, log_fields
from comfyui_gateway.tracing import child_span
from server.call_scope import REQUEST_ID_KEY, CallScope, enter_scope, leave_scope
from server.errors import abort_with
from server.interceptors.admission import Admission
from server.path_bindings import PathBindings

log = logging.getLogger("comfyui_gateway.server.access")

Context = grpc.aio.ServicerContext[Any, Any]
PATH_BINDINGS = PathBindings()
UnaryHandler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each call in a CallScope; see the module docstring.

    Without an ``Admission`` (unit tests of services) every caller is admin.
    """

    def __init__(self, admission: Admission | None = None) -> None:
        self._admission = admission

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary and inspect.iscoroutinefunction(handler.unary_unary):
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(method, cast(UnaryHandler, handler.unary_unary), self._admission),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client streaming (UploadService.CreateUpload): the request is an async iterator.
        if handler.stream_unary and inspect.iscoroutinefunction(handler.stream_unary):
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(method, cast(UnaryHandler, handler.stream_unary), self._admission),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream and inspect.isasyncgenfunction(handler.unary_stream):
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method, cast(StreamHandler, handler.unary_stream), self._admission),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _metadata(context: Context) -> dict[str, str]:
    """Request metadata as text (binary ``-bin`` values are not needed here)."""
    return {
        key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
    }


def _open_scope(method: str, context: Context, metadata: dict[str, str]) -> CallScope:
    request_id = str(metadata.get(REQUEST_ID_KEY) or uuid.uuid4())[:128]
    return CallScope(method=method, correlation_id=request_id, peer=context.peer() or "")


def _wrap_unary(method: str, inner: UnaryHandler, admission: Admission | None) -> UnaryHandler:
    async def handle(request: Any, context: Context) -> Any:
        metadata = _metadata(context)
        scope = _open_scope(method, context, metadata)
        token = enter_scope(scope)
        id_token = correlation_id.set(scope.correlation_id)
        started = time.perf_counter()
        try:
            await _admit(admission, scope, metadata)
            PATH_BINDINGS.check(method, metadata, request)
            response = await inner(request, context)
            context.set_trailing_metadata(scope.success_metadata())
            return response
        except BaseException as exc:
            await _fail(exc, context, scope, admission)
            raise
        finally:
            _log_call(scope, started)
            correlation_id.reset(id_token)
            leave_scope(token)

    return handle


def _wrap_stream(method: str, inner: StreamHandler, admission: Admission | None) -> StreamHandler:
    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        metadata = _metadata(context)
        scope = _open_scope(method, context, metadata)
        token = enter_scope(scope)
        id_token = correlation_id.set(scope.correlation_id)
        started = time.perf_counter()
        metadata_sent = False
        try:
            await _admit(admission, scope, metadata)
            PATH_BINDINGS.check(method, metadata, request)
            async for message in inner(request, context):
                if not metadata_sent:
                    await context.send_initial_metadata(scope.success_metadata())
                    metadata_sent = True
                yield message
        except BaseException as exc:
            await _fail(exc, context, scope, admission)
            raise
        finally:
            _log_call(scope, started)
            correlation_id.reset(id_token)
            leave_scope(token)

    return handle


async def _admit(admission: Admission | None, scope: CallScope, metadata: dict[str, str]) -> None:
    """Credentials and rate limit, as their own span (a stage of every call's latency)."""
    if admission is None:
        return
    with child_span("admission"):
        await admission.admit(scope, metadata)


async def _fail(
    exc: BaseException, context: Context, scope: CallScope, admission: Admission | None
) -> None:
    """Abort the call for ``exc`` (raising AbortError); control-flow exceptions pass on."""
    if isinstance(exc, asyncio.CancelledError):
        scope.outcome = "CANCELLED"
        return
    if isinstance(exc, grpc.aio.AbortError):
        if scope.outcome == "OK":
            scope.outcome = "ABORTED"
        return
    if not isinstance(exc, Exception):
        scope.outcome = "INTERRUPTED"
        return
    error = exc if isinstance(exc, GatewayError) else None
    if error is None:
        log.exception("unhandled error in %s", scope.method)
        error = GatewayError(f"Internal error (correlation id {scope.correlation_id})")
    scope.outcome = error.code.value
    if admission is not None and isinstance(error, Forbidden):
        await admission.note_forbidden(scope)
    await abort_with(context, error, scope)


QUIET_METHOD_PREFIX = "/grpc.health.v1.Health/"
"""Envoy health-checks every server each second: at INFO those lines would drown the log."""


def _log_call(scope: CallScope, started: float) -> None:
    quiet = scope.method.startswith(QUIET_METHOD_PREFIX) and scope.outcome == "OK"
    level = logging.DEBUG if quiet else logging.INFO
    if not log.isEnabledFor(level):  # the fields cost more than the check, per call
        return
    log.log(
        level,
        "rpc",
        extra=log_fields(
            method=scope.method,
            status=scope.outcome,
            durationMs=round((time.perf_counter() - started) * 1000, 2),
            peer=scope.peer,
            client=scope.client_address or None,
            caller=scope.caller.subject,
        ),
    )
