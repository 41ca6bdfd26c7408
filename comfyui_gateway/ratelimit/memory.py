"""The in-process rate limiter of embedded mode (one server process, no Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable

from comfyui_gateway.ratelimit.base import RateDecision

MAX_BUCKETS = 100_000
"""Past this many live buckets, expired ones are swept (memory stays bounded)."""


class MemoryRateLimiter:
    """Fixed windows in a dict; same contract as ``RedisRateLimiter``::

    decision = await MemoryRateLimiter(100, 60_000).hit("ip:10.0.0.1")
    """

    def __init__(
        self, limit: int, window_ms: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window_s = window_ms / 1000
        self._clock = clock
        self._buckets: dict[str, tuple[float, int]] = {}

    async def hit(self, bucket: str) -> RateDecision:
        now = self._clock()
        ends_at, count = self._buckets.get(bucket, (0.0, 0))
        if now >= ends_at:
            if len(self._buckets) >= MAX_BUCKETS:
                self._sweep(now)
            ends_at, count = now + self._window_s, 0
        count += 1
        self._buckets[bucket] = (ends_at, count)
        return RateDecision(self._limit, count, max(0, round((ends_at - now) * 1000)))

    def _sweep(self, now: float) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if v[0] > now}
