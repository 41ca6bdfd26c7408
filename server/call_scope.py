"""Per-call state shared by the interceptor and the services.

A service never touches HTTP: it says "this success is a 201" or adds a response
header through the current ``CallScope``; the interceptor sends them as gRPC
trailing metadata (a unary answer, success or error: one write with the message) or
initial metadata (a stream, with its first message), which the Envoy edge turns
into the HTTP status and headers (see ``envoy.yaml``'s Lua filter).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from comfyui_gateway.config import Role

# Metadata keys the Envoy edge reads. Lowercase, as gRPC requires.
HTTP_STATUS_KEY = "x-gw-http-status"
ERROR_BODY_KEY = "x-gw-error"
REQUEST_ID_KEY = "x-request-id"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an API key's id or a JWT subject, and a role.

    With auth off (no API_KEYS, no JWT_SECRET) everyone is ``anonymous`` and admin.
    """

    subject: str = "anonymous"
    role: Role = Role.ADMIN

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def owner_filter(self) -> str | None:
        """The owner a query must be limited to: None for admins (they see all)."""
        return None if self.is_admin else self.subject


@dataclass
class CallScope:
    """What one RPC has decided about its answer so far."""

    method: str
    correlation_id: str
    peer: str = ""
    client_address: str = ""
    """The client's address as Envoy saw it (or the gRPC peer's), set at admission."""
    success_status: int = 200
    outcome: str = "OK"
    caller: Caller = field(default_factory=Caller)
    headers: dict[str, str] = field(default_factory=dict)

    def success_metadata(self) -> tuple[tuple[str, str], ...]:
        pairs = [(REQUEST_ID_KEY, self.correlation_id), *self.headers.items()]
        if self.success_status != 200:
            pairs.append((HTTP_STATUS_KEY, str(self.success_status)))
        return tuple(pairs)


_current: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar(
    "call_scope", default=None
)


def current_scope() -> CallScope | None:
    return _current.get()


def enter_scope(scope: CallScope) -> contextvars.Token[CallScope | None]:
    return _current.set(scope)


def leave_scope(token: contextvars.Token[CallScope | None]) -> None:
    _current.reset(token)


def reply_with_status(status: int) -> None:
    """Ask the edge to answer this call's success with ``status`` (201, 202, 204)."""
    scope = _current.get()
    if scope is not None:
        scope.success_status = status


def add_response_header(name: str, value: str) -> None:
    scope = _current.get()
    if scope is not None:
        scope.headers[name.lower()] = value


def current_caller() -> Caller:
    scope = _current.get()
    return scope.caller if scope is not None else Caller()
