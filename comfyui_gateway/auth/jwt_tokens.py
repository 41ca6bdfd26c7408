"""Bearer tokens: HS256 JWTs signed with ``JWT_SECRET``.

The algorithm is pinned (``alg: none``, RS256 and HS512 tokens are refused before any
key is used), ``exp`` is required, ``nbf`` and ``iat`` are honoured with a small
leeway for clock skew, and ``sub`` and ``role`` (``admin`` or ``user``) are required.
Each failure maps to one message; the reference's troubleshooting section fixes the
wording of the expired and bad-signature ones. ``exp``, ``nbf`` and ``iat`` must be
JSON numbers (PyJWT alone takes ``"9999999999"`` as a string). A secret shorter than
32 bytes works but is logged once as a warning, in place of PyJWT's per-call one.
"""

from __future__ import annotations

import hashlib
import logging
import warnings

from comfyui_gateway.auth.api_keys import KEY_ID_PREFIX
from comfyui_gateway.auth.principal import Principal
from comfyui_gateway.config import Role
from comfyui_gateway.errors import AuthFailed

ALGORITHMS = ["HS256"]
LEEWAY_S = 10
"""Clock skew tolerated on exp, nbf and iat, in seconds."""
REQUIRED_CLAIMS = ["exp", "sub", "role"]
TIME_CLAIMS = ("exp", "nbf", "iat")
MIN_SECRET_BYTES = 32
"""RFC 7518 3.2: an HS256 key at least as long as the hash."""

EXPIRED = "JWT token has expired"
BAD_SIGNATURE = "Invalid JWT signature"
NOT_YET_VALID = "JWT token is not yet valid"
MALFORMED = "Invalid JWT token"
BAD_ROLE = "JWT role claim must be admin or user"
BAD_SUBJECT = "JWT sub claim must be a non-empty string"
BAD_TIME = "JWT exp, nbf and iat claims must be numbers (seconds since the epoch)"

log = logging.getLogger("comfyui_gateway.auth")
_warned: set[str] = set()


def warn_if_weak(secret: str) -> None:
    """Log once per process (per secret) that ``secret`` is shorter than 32 bytes."""
    length = len(secret.encode("utf-8"))
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    if length >= MIN_SECRET_BYTES or digest in _warned:
        return
    _warned.add(digest)
    log.warning(
        "JWT_SECRET is %d bytes long; use at least %d random bytes (RFC 7518 3.2)",
        length,
        MIN_SECRET_BYTES,
    )


class JwtVerifier:
    """Checks one token and returns its principal, or raises ``AuthFailed``::

    JwtVerifier(secret).verify(token).subject  # the token's ``sub``
    """

    def __init__(self, secret: str, *, leeway_s: int = LEEWAY_S) -> None:
        import jwt  # noqa: F401  (loaded with the verifier at start-up, not by a request)

        self._secret = secret
        self._leeway_s = leeway_s
        warn_if_weak(secret)

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
        import jwt  # not at module import: without JWT_SECRET, PyJWT and cryptography stay out

        try:
            with warnings.catch_warnings():  # warn_if_weak said it once already
                warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
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
        for name in TIME_CLAIMS:
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise AuthFailed(BAD_TIME)
        return claims
