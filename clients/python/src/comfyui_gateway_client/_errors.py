"""Typed errors carrying the gateway's codes.

The gateway aborts a failed call with a gRPC status and the documented REST body
``{"error": CODE, "message": ...}`` in the ``x-gw-error`` trailing metadata; this module
turns a ``grpc.RpcError`` into one of these classes, so callers catch what they mean
(``except JobNotFound``) instead of decoding status codes.

    GatewayError                 any failure; .code, .message, .status, .details
    ├── ValidationError          VALIDATION_ERROR
    ├── AuthFailed               AUTH_FAILED
    ├── Forbidden                FORBIDDEN
    ├── NotFound                 WORKFLOW_NOT_FOUND, JOB_NOT_FOUND, OUTPUT_NOT_FOUND
    ├── Conflict                 CONFLICT
    ├── RateLimited              RATE_LIMITED (.retry_after_s)
    │   └── QuotaExceeded        QUOTA_EXCEEDED (.retry_after_s)
    ├── Unavailable              COMFYUI_UNREACHABLE, or the gateway itself unreachable
    │   └── QueueFull            QUEUE_FULL (.retry_after_s)
    └── JobFailed                a job ended failed or cancelled (.job)
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import grpc

ERROR_TRAILER = "x-gw-error"
RETRY_AFTER_TRAILER = "retry-after"


class GatewayError(Exception):
    """Raised when the gateway refuses or fails a call; the root of this client's errors."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: grpc.StatusCode | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details


class ValidationError(GatewayError):
    """Raised when inputs or parameters are invalid (``details`` names the fields)."""


class AuthFailed(GatewayError):
    """Raised when the API key or JWT is missing, unknown or expired."""


class Forbidden(GatewayError):
    """Raised when the caller's role may not do this (or the job is someone else's)."""


class NotFound(GatewayError):
    """Raised when the workflow, job or output does not exist."""


class Conflict(GatewayError):
    """Raised when the id exists already or the job has already finished."""


class RateLimited(GatewayError):
    """Raised when the caller exceeded its rate limit; ``retry_after_s`` says how long."""

    retry_after_s: float = 1.0


class QuotaExceeded(RateLimited):
    """Raised when the caller holds or started its quota of jobs; ``retry_after_s`` says
    when a slot should free (``details``: ``{quota: active|daily, limit}``)."""


class Unavailable(GatewayError):
    """Raised when the gateway, or every ComfyUI behind it, cannot be reached."""


class QueueFull(Unavailable):
    """Raised when the gateway's queue is full (nothing was stored); ``retry_after_s`` is
    how long it should take to drain."""

    retry_after_s: float = 1.0


class JobFailed(GatewayError):
    """Raised by ``generate`` when the job ends failed or cancelled; ``job`` is its record."""

    job: Any = None


BY_CODE: dict[str, type[GatewayError]] = {
    "VALIDATION_ERROR": ValidationError,
    "AUTH_FAILED": AuthFailed,
    "FORBIDDEN": Forbidden,
    "WORKFLOW_NOT_FOUND": NotFound,
    "JOB_NOT_FOUND": NotFound,
    "OUTPUT_NOT_FOUND": NotFound,
    "ROUTE_NOT_FOUND": NotFound,
    "CONFLICT": Conflict,
    "RATE_LIMITED": RateLimited,
    "COMFYUI_UNREACHABLE": Unavailable,
    "QUOTA_EXCEEDED": QuotaExceeded,
    "QUEUE_FULL": QueueFull,
}
# When the call never reached the gateway's code (no trailer): the status decides.
BY_STATUS: dict[grpc.StatusCode, tuple[str, type[GatewayError]]] = {
    grpc.StatusCode.UNAVAILABLE: ("UNAVAILABLE", Unavailable),
    grpc.StatusCode.UNAUTHENTICATED: ("AUTH_FAILED", AuthFailed),
    grpc.StatusCode.PERMISSION_DENIED: ("FORBIDDEN", Forbidden),
    grpc.StatusCode.NOT_FOUND: ("NOT_FOUND", NotFound),
    grpc.StatusCode.INVALID_ARGUMENT: ("VALIDATION_ERROR", ValidationError),
    grpc.StatusCode.ALREADY_EXISTS: ("CONFLICT", Conflict),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ("RATE_LIMITED", RateLimited),
}


def _trailers(error: grpc.RpcError) -> dict[str, str]:
    trailing = getattr(error, "trailing_metadata", None)
    pairs = trailing() if callable(trailing) else None
    return {str(key): str(value) for key, value in (pairs or ())}


def from_rpc_error(error: grpc.RpcError) -> GatewayError:
    """The typed error for a failed call, from its trailer when the gateway sent one."""
    status: grpc.StatusCode | None = error.code() if hasattr(error, "code") else None
    trailers = _trailers(error)
    details_text = error.details() if hasattr(error, "details") else None
    body: dict[str, Any] = {}
    if ERROR_TRAILER in trailers:
        try:
            body = json.loads(trailers[ERROR_TRAILER])
        except json.JSONDecodeError:
            body = {}
    if body.get("error"):
        code = str(body["error"])
        cls = BY_CODE.get(code, GatewayError)
    else:
        code, cls = (
            BY_STATUS.get(status, ("INTERNAL", GatewayError))
            if status
            else (
                "INTERNAL",
                GatewayError,
            )
        )
    message = str(body.get("message") or details_text or code)
    result = cls(code, message, status=status, details=body.get("details"))
    if isinstance(result, RateLimited | QueueFull) and RETRY_AFTER_TRAILER in trailers:
        with contextlib.suppress(ValueError):
            result.retry_after_s = float(trailers[RETRY_AFTER_TRAILER])
    return result
