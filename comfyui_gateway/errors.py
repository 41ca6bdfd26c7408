"""The gateway's errors: one rooted tree, one table of codes.

Every failure a client can see carries a code from SPEC.md §3. The table
``ERROR_TABLE`` is the single place that maps a code to its HTTP status, its gRPC
status name and whether a retry can help; the server, the Envoy edge and the job
records all read it.

    GatewayError                      (code INTERNAL)
    ├── ValidationError               VALIDATION_ERROR      400
    ├── AuthFailed                    AUTH_FAILED           401
    ├── Forbidden                     FORBIDDEN             403
    ├── NotFound
    │   ├── WorkflowNotFound          WORKFLOW_NOT_FOUND    404
    │   ├── JobNotFound               JOB_NOT_FOUND         404
    │   ├── OutputNotFound            OUTPUT_NOT_FOUND      404
    │   └── UploadNotFound            UPLOAD_NOT_FOUND      404
    ├── Conflict                      CONFLICT              409
    ├── RateLimited                   RATE_LIMITED          429
    ├── Refusal                       (Retry-After + headers)
    │   ├── QuotaExceeded             QUOTA_EXCEEDED        429
    │   └── QueueFull                 QUEUE_FULL            503
    ├── PayloadTooLarge               PAYLOAD_TOO_LARGE     413
    ├── ComfyUIError
    │   ├── ComfyUIUnreachable        COMFYUI_UNREACHABLE   503
    │   ├── ComfyUIOutOfMemory        COMFYUI_OOM           500
    │   ├── ComfyUITimeout            COMFYUI_TIMEOUT       504
    │   └── ComfyUINodeError          COMFYUI_NODE_ERROR    500
    ├── NotImplementedYet             NOT_IMPLEMENTED       501
    └── (anything else)               INTERNAL              500

``ROUTE_NOT_FOUND`` (404), ``PAYLOAD_TOO_LARGE`` (413), ``METHOD_NOT_ALLOWED`` (405,
with ``Allow``), ``UNSUPPORTED_MEDIA_TYPE`` (415), ``URI_TOO_LONG`` (414) and
``HEADERS_TOO_LARGE`` (431) are produced by the Envoy edge for requests that never
reach a service, and ``NOT_IMPLEMENTED`` (501) marks an
RPC of the contract whose capability has not landed yet; they are listed here so the
table stays the one reference.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class ErrorCode(enum.StrEnum):
    """The codes a client can receive, in REST bodies, gRPC trailers and job records."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    AUTH_FAILED = "AUTH_FAILED"
    FORBIDDEN = "FORBIDDEN"
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    OUTPUT_NOT_FOUND = "OUTPUT_NOT_FOUND"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    COMFYUI_UNREACHABLE = "COMFYUI_UNREACHABLE"
    COMFYUI_OOM = "COMFYUI_OOM"
    COMFYUI_TIMEOUT = "COMFYUI_TIMEOUT"
    COMFYUI_NODE_ERROR = "COMFYUI_NODE_ERROR"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    INTERNAL = "INTERNAL"
    UPLOAD_NOT_FOUND = "UPLOAD_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    URI_TOO_LONG = "URI_TOO_LONG"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    QUEUE_FULL = "QUEUE_FULL"


@dataclass(frozen=True)
class ErrorSpec:
    """How one code travels: HTTP status, gRPC status name, retry advice."""

    http_status: int
    grpc_status: str
    retryable: bool


ERROR_TABLE: dict[ErrorCode, ErrorSpec] = {
    ErrorCode.VALIDATION_ERROR: ErrorSpec(400, "INVALID_ARGUMENT", False),
    ErrorCode.AUTH_FAILED: ErrorSpec(401, "UNAUTHENTICATED", False),
    ErrorCode.FORBIDDEN: ErrorSpec(403, "PERMISSION_DENIED", False),
    ErrorCode.WORKFLOW_NOT_FOUND: ErrorSpec(404, "NOT_FOUND", False),
    ErrorCode.JOB_NOT_FOUND: ErrorSpec(404, "NOT_FOUND", False),
    ErrorCode.OUTPUT_NOT_FOUND: ErrorSpec(404, "NOT_FOUND", False),
    ErrorCode.ROUTE_NOT_FOUND: ErrorSpec(404, "NOT_FOUND", False),
    ErrorCode.CONFLICT: ErrorSpec(409, "ALREADY_EXISTS", False),
    ErrorCode.PAYLOAD_TOO_LARGE: ErrorSpec(413, "RESOURCE_EXHAUSTED", False),
    ErrorCode.RATE_LIMITED: ErrorSpec(429, "RESOURCE_EXHAUSTED", True),
    ErrorCode.COMFYUI_UNREACHABLE: ErrorSpec(503, "UNAVAILABLE", True),
    ErrorCode.COMFYUI_OOM: ErrorSpec(500, "RESOURCE_EXHAUSTED", False),
    ErrorCode.COMFYUI_TIMEOUT: ErrorSpec(504, "DEADLINE_EXCEEDED", True),
    ErrorCode.COMFYUI_NODE_ERROR: ErrorSpec(500, "FAILED_PRECONDITION", False),
    ErrorCode.NOT_IMPLEMENTED: ErrorSpec(501, "UNIMPLEMENTED", False),
    ErrorCode.INTERNAL: ErrorSpec(500, "INTERNAL", False),
    ErrorCode.UPLOAD_NOT_FOUND: ErrorSpec(404, "NOT_FOUND", False),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorSpec(405, "UNIMPLEMENTED", False),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(415, "INVALID_ARGUMENT", False),
    ErrorCode.URI_TOO_LONG: ErrorSpec(414, "INVALID_ARGUMENT", False),
    ErrorCode.HEADERS_TOO_LARGE: ErrorSpec(431, "INVALID_ARGUMENT", False),
    ErrorCode.QUOTA_EXCEEDED: ErrorSpec(429, "RESOURCE_EXHAUSTED", True),
    # RESOURCE_EXHAUSTED, not UNAVAILABLE: Envoy's POST /jobs retry policy resends on
    # gRPC UNAVAILABLE, and a full queue is not a transport failure to resend at once.
    ErrorCode.QUEUE_FULL: ErrorSpec(503, "RESOURCE_EXHAUSTED", True),
}


class GatewayError(Exception):
    """Raised when the gateway cannot do what was asked; the root of every error here.

    ``details`` is JSON-safe extra context for the client (failing fields, ComfyUI's
    node errors). It must never hold secrets.
    """

    code: ErrorCode = ErrorCode.INTERNAL
    default_message = "Internal error"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    @property
    def spec(self) -> ErrorSpec:
        return ERROR_TABLE[self.code]

    @property
    def retryable(self) -> bool:
        return self.spec.retryable

    def to_body(self) -> dict[str, Any]:
        """The documented REST error body: ``{"error": CODE, "message": ...}`` (+ details)."""
        body: dict[str, Any] = {"error": self.code.value, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body

    def to_job_error(self) -> dict[str, Any]:
        """The shape stored on a job and shown as ``job.error``."""
        error: dict[str, Any] = {
            "code": self.code.value,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.details is not None:
            error["details"] = self.details
        return error


class ValidationError(GatewayError):
    """Raised when a request or its inputs break the contract; ``details`` names the fields."""

    code = ErrorCode.VALIDATION_ERROR
    default_message = "Validation failed"


class AuthFailed(GatewayError):
    """Raised when credentials are missing, unknown, expired or badly signed."""

    code = ErrorCode.AUTH_FAILED
    default_message = (
        "Authentication required. Provide X-API-Key header or Authorization: Bearer token."
    )


class Forbidden(GatewayError):
    """Raised when an authenticated caller lacks the role for an operation."""

    code = ErrorCode.FORBIDDEN
    default_message = "Admin role required for this operation"


class NotFound(GatewayError):
    """Raised when something addressed by id does not exist (or is not the caller's)."""

    code = ErrorCode.ROUTE_NOT_FOUND
    default_message = "Not found"


class WorkflowNotFound(NotFound):
    """Raised when a workflow id is not registered."""

    code = ErrorCode.WORKFLOW_NOT_FOUND
    default_message = "Workflow not found"


class JobNotFound(NotFound):
    """Raised when a job id is unknown or belongs to another user."""

    code = ErrorCode.JOB_NOT_FOUND
    default_message = "Job not found"


class OutputNotFound(NotFound):
    """Raised when a job has no such output file."""

    code = ErrorCode.OUTPUT_NOT_FOUND
    default_message = "Output not found"


class UploadNotFound(NotFound):
    """Raised when an ``upload://`` id is unknown or belongs to another user."""

    code = ErrorCode.UPLOAD_NOT_FOUND
    default_message = "Upload not found"


class Conflict(GatewayError):
    """Raised when an id already exists or a job is already finished."""

    code = ErrorCode.CONFLICT
    default_message = "Conflict"


class PayloadTooLarge(GatewayError):
    """Raised when a request body is over the configured limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE
    default_message = "Request body too large"


class RateLimited(GatewayError):
    """Raised when a caller is over ``RATE_LIMIT_MAX`` in the current window."""

    code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after_s: int, details: Any = None):
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class Refusal(GatewayError):
    """Raised when a create is refused for now (as a subclass): ``Retry-After`` says when
    to come back. ``headers`` (lowercase names) reach the REST client as HTTP headers
    and the gRPC client as trailing metadata, beside ``retry-after``.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: int,
        headers: dict[str, str] | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(1, retry_after_s)
        self.headers = dict(headers or {})


class QuotaExceeded(Refusal):
    """Raised when a caller is at ``QUOTA_MAX_ACTIVE_JOBS`` or ``QUOTA_MAX_DAILY_JOBS``."""

    code = ErrorCode.QUOTA_EXCEEDED
    default_message = "Job quota exceeded"


class QueueFull(Refusal):
    """Raised when the queue holds ``MAX_QUEUE_DEPTH`` jobs: nothing was stored."""

    code = ErrorCode.QUEUE_FULL
    default_message = "The job queue is full; retry later"


class ComfyUIError(GatewayError):
    """Raised when a ComfyUI backend fails a prompt or cannot be used."""


class ComfyUIUnreachable(ComfyUIError):
    """Raised when a ComfyUI backend refuses connections, answers 5xx or drops mid-run."""

    code = ErrorCode.COMFYUI_UNREACHABLE
    default_message = "ComfyUI is not reachable"


class ComfyUIOutOfMemory(ComfyUIError):
    """Raised when ComfyUI runs out of GPU memory; retrying the same job will not help."""

    code = ErrorCode.COMFYUI_OOM
    default_message = (
        "ComfyUI ran out of GPU memory. Reduce width/height, batch_size or steps and retry."
    )


class ComfyUITimeout(ComfyUIError):
    """Raised when a prompt runs past ``COMFYUI_TIMEOUT_MS``."""

    code = ErrorCode.COMFYUI_TIMEOUT
    default_message = "ComfyUI did not finish within COMFYUI_TIMEOUT_MS"


class ComfyUINodeError(ComfyUIError):
    """Raised when a node fails validation or execution; ``details`` holds ComfyUI's report."""

    code = ErrorCode.COMFYUI_NODE_ERROR
    default_message = "A ComfyUI node failed"


class NotImplementedYet(GatewayError):
    """Raised when an RPC of the contract is called whose capability has not landed yet."""

    code = ErrorCode.NOT_IMPLEMENTED
    default_message = "Not implemented yet"
