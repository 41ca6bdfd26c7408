"""The ``X-Signature`` header: ``sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, raw body)>``.

The signature covers the exact bytes sent, so a receiver that hashes its raw body
(the description's Express receiver) and one that re-serialises the parsed JSON (its
n8n snippet, see ``jsonjs``) both compute the same digest.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` and the lower-case hex digest."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of a received header (what a Python receiver would do)."""
    return hmac.compare_digest(sign(secret, body), header.strip())
