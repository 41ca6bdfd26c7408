"""Admission of each call: authenticate, rate-limit, record refusals.

Called by the request-context interceptor before the service runs, inside the
call's ``CallScope``:

1. gRPC health and reflection pass untouched (Envoy's health checks, tooling).
2. Credentials are checked (``X-API-Key`` or ``Authorization: Bearer``). With auth
   off everyone is admin. ``GetHealth`` (``GET /health``) is open: bad or missing
   credentials there are ignored rather than refused.
3. One hit is counted on the caller's bucket: its subject when authenticated, its
   address otherwise — so failed logins count against the address and a key
   guesser meets 429 after ``RATE_LIMIT_MAX`` tries. ``X-RateLimit-Limit`` and
   ``X-RateLimit-Remaining`` go on the answer, success or error.
4. A refusal (401 here, 403 reported by ``note_forbidden``) goes to the audit log,
   aggregated (``FailureAudit``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.auth import Authenticator
from comfyui_gateway.auth.failure_audit import AUTH_FAILURE, FORBIDDEN, FailureAudit
from comfyui_gateway.config import Role, Settings
from comfyui_gateway.errors import AuthFailed, RateLimited
from comfyui_gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from server.call_scope import Caller, CallScope
from server.interceptors.client_address import client_address

log = logging.getLogger("comfyui_gateway.server.auth")

UNGUARDED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
OPEN_METHODS = frozenset(
    {
        "/comfyui_gateway.v1.GatewayService/GetHealth",
        "/comfyui_gateway.v1.GatewayService/GetOpenApiDocument",
        "/comfyui_gateway.v1.ConsoleService/GetConsoleAsset",
        "/comfyui_gateway.v1.ConsoleService/GetConsoleConfig",
    }
)
"""Answered without credentials: liveness, the API's own description, the console's files."""
LIMIT_HEADER = "x-ratelimit-limit"
REMAINING_HEADER = "x-ratelimit-remaining"
UNAUTHENTICATED = Caller(subject="anonymous", role=Role.USER)


class Admission:
    """The checks every call passes before its service runs; see the module docstring."""

    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        failures: FailureAudit | None = None,
    ) -> None:
        self._auth = authenticator
        self._limiter = limiter
        self._failures = failures

    @property
    def auth_enabled(self) -> bool:
        return self._auth.enabled

    async def admit(self, scope: CallScope, metadata: Mapping[str, str]) -> None:
        """Set ``scope.caller`` or raise AuthFailed / RateLimited."""
        if scope.method.startswith(UNGUARDED_PREFIXES):
            return
        address = client_address(scope.peer, metadata)
        scope.client_address = address
        if not self._auth.enabled:
            caller: Caller | None = None
            failure: AuthFailed | None = None
        else:
            caller, failure = self._identify(metadata)
            if failure is not None and scope.method in OPEN_METHODS:
                failure = None
        # Authenticated callers have their own bucket; everyone else is their address.
        bucket = f"sub:{caller.subject}" if caller is not None else f"ip:{address}"
        decision = await self._limiter.hit(bucket)
        scope.headers[LIMIT_HEADER] = str(decision.limit)
        scope.headers[REMAINING_HEADER] = str(decision.remaining)
        if failure is not None:
            await self._record(f"ip:{address}", AUTH_FAILURE, scope.method, failure.message)
        if not decision.allowed:
            raise RateLimited(
                f"Rate limit of {decision.limit} requests exceeded; retry after "
                f"{decision.retry_after_s} s",
                retry_after_s=decision.retry_after_s,
            )
        if failure is not None:
            raise failure
        if caller is not None:
            scope.caller = caller
        elif self._auth.enabled:
            scope.caller = UNAUTHENTICATED
        # else: auth off, the scope's default caller (anonymous admin) stands.

    async def note_forbidden(self, scope: CallScope) -> None:
        """A service refused the caller's role (403): audit it like an auth failure."""
        await self._record(scope.caller.subject, FORBIDDEN, scope.method, "role")

    def _identify(self, metadata: Mapping[str, str]) -> tuple[Caller | None, AuthFailed | None]:
        """The authenticated caller, or the reason there is none."""
        try:
            principal = self._auth.authenticate(
                api_key=metadata.get("x-api-key"), authorization=metadata.get("authorization")
            )
        except AuthFailed as exc:
            return None, exc
        return Caller(subject=principal.subject, role=principal.role), None

    async def _record(self, source: str, action: str, target: str, reason: str) -> None:
        if self._failures is not None:
            await self._failures.record(source, action, target, reason)


def build_admission(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis | None,
) -> tuple[Admission, FailureAudit]:
    """The admission of one server process: a Redis limiter shared by every replica when
    ``REDIS_URL`` is set, an in-process one otherwise. Warns when auth is off."""
    limiter: RateLimiter
    if redis is not None:
        limiter = RedisRateLimiter(
            redis,
            settings.RATE_LIMIT_MAX,
            settings.RATE_LIMIT_WINDOW_MS,
            namespace=settings.REDIS_NAMESPACE,
        )
    else:
        limiter = MemoryRateLimiter(settings.RATE_LIMIT_MAX, settings.RATE_LIMIT_WINDOW_MS)
    authenticator = Authenticator.from_settings(settings)
    if not authenticator.enabled:
        level = logging.ERROR if settings.NODE_ENV == "production" else logging.WARNING
        log.log(
            level,
            "authentication is OFF: API_KEYS and JWT_SECRET are empty, every request is "
            "treated as admin. Set them before exposing this gateway.",
        )
    failures = FailureAudit(sessions)
    return Admission(authenticator, limiter, failures), failures
