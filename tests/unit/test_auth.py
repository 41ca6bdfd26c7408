"""API keys and JWTs: constant-time matching, secret-free ids, every JWT edge case."""

from __future__ import annotations

import hmac
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from comfyui_gateway.auth import ApiKeyRing, Authenticator, JwtVerifier, key_id
from comfyui_gateway.config import Role, load_settings
from comfyui_gateway.errors import AuthFailed

SECRET = "a-very-long-random-secret-at-least-64-chars-long-for-hs512-tokens-too"
OTHER_SECRET = "another-long-random-secret-that-is-also-64-characters-long-or-more!!"
MISSING = "Authentication required. Provide X-API-Key header or Authorization: Bearer token."


def token(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "user-1", "role": "user", "iat": now, "exp": now + 3600}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def auth_failure(call: Any) -> str:
    with pytest.raises(AuthFailed) as raised:
        call()
    return raised.value.message


# -- API keys ----------------------------------------------------------------------------


def test_key_matches_with_its_role_and_a_hashed_subject() -> None:
    ring = ApiKeyRing({"sk-admin": Role.ADMIN, "sk-user": Role.USER})
    admin = ring.match("sk-admin")
    user = ring.match("sk-user")
    assert admin is not None and admin.role is Role.ADMIN
    assert user is not None and user.role is Role.USER
    assert user.subject == key_id("sk-user")
    assert "sk-user" not in user.subject and user.subject.startswith("key:")
    assert len(user.subject) == len("key:") + 8


@pytest.mark.parametrize("presented", ["sk-admi", "sk-admin ", "SK-ADMIN", "", "sk-admin\x00"])
def test_near_misses_do_not_match(presented: str) -> None:
    assert ApiKeyRing({"sk-admin": Role.ADMIN}).match(presented) is None


def test_every_configured_key_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the first key matching still costs a comparison with every other."""
    calls: list[bytes] = []
    original = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    ring = ApiKeyRing({f"key-{n}": Role.USER for n in range(5)})
    assert ring.match("key-0") is not None
    assert len(calls) == 5
    calls.clear()
    assert ring.match("nope") is None
    assert len(calls) == 5


# -- the authenticator -------------------------------------------------------------------


def authenticator(**env: Any) -> Authenticator:
    return Authenticator.from_settings(load_settings(None, **env))


def test_auth_off_without_keys_and_secret() -> None:
    assert not authenticator().enabled
    assert authenticator(API_KEYS="k:user").enabled
    assert authenticator(JWT_SECRET=SECRET).enabled


@pytest.mark.parametrize(
    ("api_key", "authorization", "message"),
    [
        (None, None, MISSING),
        ("", "", MISSING),
        (None, "Basic dXNlcjpwYXNz", MISSING),
        (None, "Bearer ", MISSING),
        ("wrong", None, "Invalid API key"),
        ("wrong", f"Bearer {token(claims())}", "Invalid API key"),
    ],
)
def test_authenticator_messages(
    api_key: str | None, authorization: str | None, message: str
) -> None:
    auth = authenticator(API_KEYS="sk-user:user", JWT_SECRET=SECRET)
    assert auth_failure(
        lambda: auth.authenticate(api_key=api_key, authorization=authorization)
    ) == (message)


def test_api_key_or_bearer_token() -> None:
    auth = authenticator(API_KEYS="sk-user:user", JWT_SECRET=SECRET)
    by_key = auth.authenticate(api_key="sk-user", authorization=None)
    assert (by_key.subject, by_key.method) == (key_id("sk-user"), "api_key")
    by_jwt = auth.authenticate(api_key=None, authorization=f"bearer {token(claims(sub='bob'))}")
    assert (by_jwt.subject, by_jwt.role, by_jwt.method) == ("bob", Role.USER, "jwt")


def test_bearer_without_jwt_configured_is_refused() -> None:
    auth = authenticator(API_KEYS="sk-user:user")
    message = auth_failure(
        lambda: auth.authenticate(api_key=None, authorization=f"Bearer {token(claims())}")
    )
    assert "JWT" in message


# -- JWT edge cases ----------------------------------------------------------------------


def rs256_token() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return jwt.encode(claims(role="admin"), pem, algorithm="RS256")


def unsigned_token(alg: str = "none") -> str:
    return jwt.encode(claims(role="admin"), "", algorithm="none") if alg == "none" else ""


def forged_none_header() -> str:
    """``alg: none`` with a valid-looking HS256 payload and no signature."""
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(role='admin'))}."


def tampered() -> str:
    """A user's signature under an admin's payload."""
    header, _, signature = token(claims()).split(".")
    admin_payload = token(claims(role="admin")).split(".")[1]
    return f"{header}.{admin_payload}.{signature}"


NOW = int(time.time())
JWT_CASES: list[tuple[str, str, str]] = [
    ("expired", token(claims(exp=NOW - 3600)), "JWT token has expired"),
    ("wrong secret", token(claims(), secret=OTHER_SECRET), "Invalid JWT signature"),
    ("alg none", unsigned_token(), "Invalid JWT signature"),
    ("alg none, handmade", forged_none_header(), "Invalid JWT signature"),
    ("HS512", token(claims(), algorithm="HS512"), "Invalid JWT signature"),
    ("HS384", token(claims(), algorithm="HS384"), "Invalid JWT signature"),
    ("RS256", rs256_token(), "Invalid JWT signature"),
    ("nbf in the future", token(claims(nbf=NOW + 3600)), "JWT token is not yet valid"),
    ("iat in the future", token(claims(iat=NOW + 3600)), "JWT token is not yet valid"),
    ("no exp", token(claims(exp=None)), "JWT token is missing the 'exp' claim"),
    ("no sub", token(claims(sub=None)), "JWT token is missing the 'sub' claim"),
    ("no role", token(claims(role=None)), "JWT token is missing the 'role' claim"),
    ("bad role", token(claims(role="root")), "JWT role claim must be admin or user"),
    ("empty sub", token(claims(sub="")), "JWT sub claim must be a non-empty string"),
    ("numeric sub", token(claims(sub=42)), "Invalid JWT token"),
    ("sub of an API key", token(claims(sub="key:1234abcd")), "JWT sub claim must be"),
    ("garbage", "not.a.jwt", "Invalid JWT token"),
    ("payload swapped", tampered(), "Invalid JWT signature"),
    ("exp as a string", token(claims(exp=str(NOW + 3600))), "JWT exp, nbf and iat claims must"),
    ("nbf as a string", token(claims(nbf=str(NOW - 60))), "JWT exp, nbf and iat claims must"),
    ("iat as a string", token(claims(iat=str(NOW))), "JWT exp, nbf and iat claims must"),
    ("exp as a boolean", token(claims(exp=True)), "JWT"),
    ("exp as text", token(claims(exp="tomorrow")), "Invalid JWT token"),
]


@pytest.mark.parametrize(("case", "value", "message"), JWT_CASES, ids=[c[0] for c in JWT_CASES])
def test_jwt_refusals(case: str, value: str, message: str) -> None:
    refused = auth_failure(lambda: JwtVerifier(SECRET).verify(value))
    assert refused.startswith(message), (case, refused)


def test_jwt_leeway_tolerates_small_skew() -> None:
    verifier = JwtVerifier(SECRET, leeway_s=10)
    now = int(time.time())  # not NOW: the suite may run long after import
    principal = verifier.verify(token(claims(exp=now - 5, nbf=now + 5, role="admin")))
    assert principal.role is Role.ADMIN


def test_valid_jwt_gives_sub_and_role() -> None:
    principal = JwtVerifier(SECRET).verify(token(claims(sub="alice", role="admin")))
    assert (principal.subject, principal.role) == ("alice", Role.ADMIN)


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")  # the test's own encode
def test_a_short_secret_is_one_warning_and_still_works(caplog: pytest.LogCaptureFixture) -> None:
    short = f"short-{time.monotonic_ns()}"  # fresh: the warning is once per process
    with caplog.at_level("WARNING", logger="comfyui_gateway.auth"):
        first, second = JwtVerifier(short), JwtVerifier(short)
        JwtVerifier(SECRET)
    warned = [r for r in caplog.records if "JWT_SECRET" in r.getMessage()]
    assert len(warned) == 1 and "use at least 32" in warned[0].getMessage()
    assert short not in warned[0].getMessage()
    principal = second.verify(token(claims(sub="bob"), secret=short))
    assert principal.subject == "bob" and first is not second


def test_library_warnings_are_json_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging
    import warnings

    from comfyui_gateway.logs import configure_logging

    configure_logging("info", component="test")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library says so", UserWarning, stacklevel=1)
        lines = [line for line in capsys.readouterr().err.splitlines() if "library says" in line]
        assert len(lines) == 1
        record = json.loads(lines[0])
        assert record["level"] == "WARNING" and record["logger"] == "py.warnings"
    finally:
        logging.captureWarnings(False)
