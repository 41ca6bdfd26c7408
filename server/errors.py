"""Turning a GatewayError into a gRPC status the Envoy edge can render as REST.

The gRPC status code comes from ``ERROR_TABLE``; the trailing metadata carries the
documented REST body ``{"error": CODE, "message": ...}`` and its HTTP status, which
the edge's Lua filter puts on the wire. gRPC clients read the same code from the
``x-gw-error`` trailer or from the status details.

A refusal to retry later (``QUOTA_EXCEEDED``, ``QUEUE_FULL``) also carries the standard
rich status (``grpc-status-details-bin``: a ``google.rpc.Status`` with ``ErrorInfo``,
``RetryInfo`` and, for quotas, ``QuotaFailure``), so any gRPC client's status helpers
read the wait without knowing this gateway; the edge drops it from REST answers.
"""

from __future__ import annotations

import json

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from comfyui_gateway.errors import GatewayError, QuotaExceeded, RateLimited, Refusal
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


def error_trailers(
    error: GatewayError, scope: CallScope | None
) -> tuple[tuple[str, str | bytes], ...]:
    """Trailing metadata for a failed call: the REST body, its status, and headers."""
    body = error_body(error)
    pairs: list[tuple[str, str | bytes]] = [
        (ERROR_BODY_KEY, body),
        (HTTP_STATUS_KEY, str(error.spec.http_status)),
    ]
    if isinstance(error, RateLimited | Refusal):
        pairs.append(("retry-after", str(error.retry_after_s)))
    if isinstance(error, Refusal):
        pairs.extend(error.headers.items())
        pairs.append((STATUS_DETAILS_KEY, rich_status(error).SerializeToString()))
    if scope is not None:
        pairs.append((REQUEST_ID_KEY, scope.correlation_id))
        pairs.extend(scope.headers.items())
    return tuple(pairs)


STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "comfyui-gateway"


def rich_status(error: Refusal) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a refusal: why (ErrorInfo), when (RetryInfo), which
    quota (QuotaFailure)."""
    details = [
        error_details_pb2.ErrorInfo(
            reason=error.code.value,
            domain=ERROR_DOMAIN,
            metadata={k: str(v) for k, v in dict(error.details or {}).items()},
        ),
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=error.retry_after_s)),
    ]
    if isinstance(error, QuotaExceeded):
        quota = str(dict(error.details or {}).get("quota", ""))
        violation = error_details_pb2.QuotaFailure.Violation(
            subject=quota, description=short_message(error.message)
        )
        details.append(error_details_pb2.QuotaFailure(violations=[violation]))
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(
        code=grpc_code_for(error).value[0], message=short_message(error.message), details=packed
    )


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
