"""From request headers to a principal: ``X-API-Key`` or ``Authorization: Bearer``.

With no ``API_KEYS`` and no ``JWT_SECRET`` authentication is off: ``enabled`` is
False and the server treats every caller as admin (and says so at start-up).
"""

from __future__ import annotations

from comfyui_gateway.auth.api_keys import ApiKeyRing
from comfyui_gateway.auth.jwt_tokens import JwtVerifier
from comfyui_gateway.auth.principal import Principal
from comfyui_gateway.config import Settings
from comfyui_gateway.errors import AuthFailed

MISSING = "Authentication required. Provide X-API-Key header or Authorization: Bearer token."
INVALID_KEY = "Invalid API key"
JWT_DISABLED = "Bearer tokens are not accepted: JWT authentication is not configured"
BEARER = "bearer "


class Authenticator:
    """Checks a request's credentials; see the module docstring::

    Authenticator.from_settings(settings).authenticate(api_key="sk-…", authorization=None)
    """

    def __init__(self, keys: ApiKeyRing, jwt_verifier: JwtVerifier | None) -> None:
        self._keys = keys
        self._jwt = jwt_verifier

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        verifier = JwtVerifier(settings.JWT_SECRET) if settings.JWT_SECRET else None
        return cls(ApiKeyRing(settings.API_KEYS), verifier)

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._jwt is not None

    def authenticate(self, *, api_key: str | None, authorization: str | None) -> Principal:
        """The caller's principal; ``AuthFailed`` with the documented message otherwise.

        An ``X-API-Key`` header wins over ``Authorization`` when both are sent.
        """
        if api_key:
            principal = self._keys.match(api_key)
            if principal is None:
                raise AuthFailed(INVALID_KEY)
            return principal
        token = _bearer_token(authorization)
        if token is None:
            raise AuthFailed(MISSING)
        if self._jwt is None:
            raise AuthFailed(JWT_DISABLED)
        return self._jwt.verify(token)


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization or authorization[: len(BEARER)].lower() != BEARER:
        return None
    token = authorization[len(BEARER) :].strip()
    return token or None
