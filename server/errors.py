"""Turning a GatewayError into a gRPC status the Envoy edge can render as REST.

The gRPC status code comes from ``ERROR_TABLE``; the trailing metadata carries the
documented REST body ``{"error": CODE, "message": ...}`` and its HTTP status, which
the edge's Lua filter puts on the wire. gRPC clients read the same code from the
``x-gw-error`` trailer or from the status details.
"""

from __future__ import annotations

import json

import grpc

from comfyui_gateway.errors import GatewayError, RateLimited, Refusal
from server.call_scope import ERROR_BODY_KEY, HTTP_STATUS_KEY, REQUEST_ID_KEY, CallScope


def grpc_code_for(error: GatewayError) -> grpc.StatusCode:
    return grpc.StatusCode[error.spec.grpc_status]


MAX_BODY_BYTES = 4096
"""gRPC caps all metadata of a call at 8 KiB by default: a body larger than this (a huge
validation report, a hostile id echoed back) is cut down rather than losing the answer."""
MAX_MESSAGE_CHARS = 500


def error_body(error: GatewayError) -> str:
    """The documented REST body as compact ASCII JSON, never larger than MAX_BODY_BYTES."""
    body = json.dumps(error.to_body(), ensure_ascii=True, separators=(",", ":"), default=str)
    if len(body) <= MAX_BODY_BYTES:
        return body
    short = {"error": error.code.value, "message": short_message(error.message)}
    return json.dumps(short, ensure_ascii=True, separators=(",", ":"))


def short_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS] + "… (truncated)"


def error_trailers(error: GatewayError, scope: CallScope | None) -> tuple[tuple[str, str], ...]:
    """Trailing metadata for a failed call: the REST body, its status, and headers."""
    body = error_body(error)
    pairs: list[tuple[str, str]] = [
        (ERROR_BODY_KEY, body),
        (HTTP_STATUS_KEY, str(error.spec.http_status)),
    ]
    if isinstance(error, RateLimited | Refusal):
        pairs.append(("retry-after", str(error.retry_after_s)))
    if isinstance(error, Refusal):
        pairs.extend(error.headers.items())
    if scope is not None:
        pairs.append((REQUEST_ID_KEY, scope.correlation_id))
        pairs.extend(scope.headers.items())
    return tuple(pairs)


async def abort_with(
    context: grpc.aio.ServicerContext[object, object],
    error: GatewayError,
    scope: CallScope | None,
) -> None:
    """End the call with ``error``; raises grpc's AbortError as ``context.abort`` does."""
    await context.abort(
        grpc_code_for(error),
        short_message(error.message),
        trailing_metadata=error_trailers(error, scope),
    )
