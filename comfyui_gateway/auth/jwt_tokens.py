"""Bearer tokens: HS256 JWTs signed with ``JWT_SECRET``.

The algorithm is pinned (``alg: none``, RS256 and HS512 tokens are refused before any
key is used), ``exp`` is required, ``nbf`` and ``iat`` are honoured with a small
leeway for clock skew, and ``sub`` and ``role`` (``admin`` or ``user``) are required.
Each failure maps to one message; the reference's troubleshooting section fixes the
wording of the expired and bad-signature ones.
"""

from __future__ import annotations

import jwt

from comfyui_gateway.auth.api_keys import KEY_ID_PREFIX
from comfyui_gateway.auth.principal import Principal
from comfyui_gateway.config import Role
from comfyui_gateway.errors import AuthFailed

ALGORITHMS = ["HS256"]
LEEWAY_S = 10
"""Clock skew tolerated on exp, nbf and iat, in seconds."""
REQUIRED_CLAIMS = ["exp", "sub", "role"]

EXPIRED = "JWT token has expired"
BAD_SIGNATURE = "Invalid JWT signature"
NOT_YET_VALID = "JWT token is not yet valid"
MALFORMED = "Invalid JWT token"
BAD_ROLE = "JWT role claim must be admin or user"
BAD_SUBJECT = "JWT sub claim must be a non-empty string"


class JwtVerifier:
    """Checks one token and returns its principal, or raises ``AuthFailed``::

    JwtVerifier(secret).verify(token).subject  # the token's ``sub``
    """

    def __init__(self, secret: str, *, leeway_s: int = LEEWAY_S) -> None:
        self._secret = secret
        self._leeway_s = leeway_s

    def verify(self, token: str) -> Principal:
        claims = self._decode(token)
        subject = claims.get("sub")
        # "key:" subjects belong to API keys: a token must not borrow a key's jobs.
        if not isinstance(subject, str) or not subject or subject.startswith(KEY_ID_PREFIX):
            raise AuthFailed(BAD_SUBJECT)
        try:
            role = Role(str(claims.get("role")))
        except ValueError:
            raise AuthFailed(BAD_ROLE) from None
        return Principal(subject=subject, role=role, method="jwt")

    def _decode(self, token: str) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._secret,
                algorithms=ALGORITHMS,
                options={"require": REQUIRED_CLAIMS, "verify_iat": True},
                leeway=self._leeway_s,
            )
        except jwt.ExpiredSignatureError:
            raise AuthFailed(EXPIRED) from None
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            raise AuthFailed(BAD_SIGNATURE) from None
        except jwt.ImmatureSignatureError:
            raise AuthFailed(NOT_YET_VALID) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthFailed(f"JWT token is missing the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise AuthFailed(MALFORMED) from None
        return claims
