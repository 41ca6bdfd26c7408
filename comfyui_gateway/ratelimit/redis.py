"""The rate limiter shared by every server replica: one Redis counter per bucket.

One Lua script does INCR and, on the first hit of a window, PEXPIRE, then returns
the count and the time left: atomic on the Redis side, so two replicas never both
start a window or lose a hit. If Redis is unreachable the limiter lets the request
through (and logs): a Redis outage must not take the whole API down with it.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from comfyui_gateway.names import DEFAULT_NAMESPACE, rate_limit_key
from comfyui_gateway.ratelimit.base import RateDecision, bucket_digest

log = logging.getLogger("comfyui_gateway.ratelimit")

HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimiter:
    """Fixed windows in Redis; see the module docstring::

    limiter = RedisRateLimiter(redis, 100, 60_000, namespace="cgw")
    decision = await limiter.hit("sub:key:1a2b3c4d")
    """

    def __init__(
        self, redis: Redis, limit: int, window_ms: int, *, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        self._redis = redis
        self._limit = limit
        self._window_ms = window_ms
        self._namespace = namespace
        self._script = redis.register_script(HIT_SCRIPT)

    async def hit(self, bucket: str) -> RateDecision:
        key = rate_limit_key(bucket_digest(bucket), self._namespace)
        try:
            count, ttl = await self._script(keys=[key], args=[self._window_ms])
        except RedisError as exc:
            log.warning("rate limiter unavailable, request let through: %s", exc)
            return RateDecision(self._limit, 0, self._window_ms)
        return RateDecision(self._limit, int(count), max(0, int(ttl)))
