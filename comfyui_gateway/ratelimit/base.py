"""Rate limiting: a fixed window per bucket, ``RATE_LIMIT_MAX`` hits per window.

A bucket is a caller: ``sub:<subject>`` when authenticated (API key id or JWT
subject), ``ip:<address>`` otherwise. The window of a bucket starts at its first
hit and lasts ``RATE_LIMIT_WINDOW_MS``; the hit that goes over the maximum is refused
with the time left until the window ends. Two implementations share this contract:
Redis (shared by every server replica) and memory (embedded mode).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateDecision:
    """What one hit was told: the headers of the answer, and whether it may proceed."""

    limit: int
    count: int
    reset_ms: int
    """Milliseconds until this bucket's window ends."""

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def retry_after_s(self) -> int:
        """Whole seconds to wait (``Retry-After``), at least 1."""
        return max(1, math.ceil(self.reset_ms / 1000))


class RateLimiter(Protocol):
    """Counts one hit on a bucket and says whether it is within the limit."""

    async def hit(self, bucket: str) -> RateDecision: ...


def bucket_digest(bucket: str) -> str:
    """A fixed-size name for a bucket: subjects are caller-chosen and may be long."""
    return hashlib.sha256(bucket.encode("utf-8")).hexdigest()[:32]
