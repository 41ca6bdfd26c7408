"""X-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>, retry timing, shown URLs."""

from __future__ import annotations

import random

from comfyui_gateway.webhooks.deliverer import backoff_s, shown_url
from comfyui_gateway.webhooks.signing import sign, verify


def test_signature_matches_rfc4231_vector() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


def test_verify_accepts_only_the_exact_body() -> None:
    body = b'{"jobId":"test","status":"succeeded"}'
    header = sign("your-webhook-secret", body)
    assert verify("your-webhook-secret", body, header)
    assert not verify("your-webhook-secret", body + b" ", header)
    assert not verify("other-secret", body, header)


def test_backoff_doubles_with_jitter_inside_bounds() -> None:
    rng = random.Random(7)
    for retry in (1, 2, 3):
        delays = [backoff_s(retry, 1.0, rng) for _ in range(200)]
        nominal = 2 ** (retry - 1)
        assert min(delays) >= 0.5 * nominal and max(delays) < 1.5 * nominal
        assert len(set(delays)) > 100  # jittered, not a fixed schedule


def test_logged_urls_drop_credentials_and_query() -> None:
    assert shown_url("https://user:pw@hooks.example.com:8443/cb?token=s3cret") == (
        "https://hooks.example.com:8443/cb"
    )
