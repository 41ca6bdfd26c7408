"""The quota ledger shared by every server replica: two sorted sets per caller in Redis.

``RESERVE_SCRIPT`` drops daily entries older than the window, compares both counts
with the limits and adds the job id to the sets it counts in, all inside one Lua
call: Redis runs it alone, so replicas cannot both take a caller's last slot. Keys
expire when a caller stays idle (``IDLE_TTL_MS``; the daily set with its window). If
Redis is unreachable the create is let through and logged, as the rate limiter does:
an outage of the counter must not take job creation down with it.
"""

from __future__ import annotations

import logging
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from comfyui_gateway.admission.quota_ledger import DAY_MS, QuotaCount
from comfyui_gateway.admission.quota_policy import QuotaLimits
from comfyui_gateway.names import DEFAULT_NAMESPACE, quota_active_key, quota_daily_key
from comfyui_gateway.ratelimit.base import bucket_digest

log = logging.getLogger("comfyui_gateway.admission")

IDLE_TTL_MS = 7 * DAY_MS
"""An active set untouched this long is dropped (its jobs are long finished or lost)."""

# KEYS: active, daily. ARGV: job id, active limit, daily limit, window ms, idle ttl.
# Returns {refused (0 none, 1 active, 2 daily), active, daily, oldest daily ms, now ms}.
# Redis's own clock (TIME; Redis >= 5 replicates script effects): replicas agree on it.
RESERVE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local active_limit = tonumber(ARGV[2])
local daily_limit = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local active = redis.call('ZCARD', KEYS[1])
local daily = redis.call('ZCARD', KEYS[2])
if active_limit > 0 and active >= active_limit then
  return {1, active, daily, 0, now}
end
if daily_limit > 0 and daily >= daily_limit then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {2, active, daily, tonumber(oldest[2]), now}
end
if active_limit > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  active = active + 1
end
if daily_limit > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], window)
  daily = daily + 1
end
return {0, active, daily, 0, now}
"""
REFUSED = {0: "", 1: "active", 2: "daily"}


class RedisQuotaLedger:
    """See the module docstring::

    ledger = RedisQuotaLedger(redis, namespace="cgw")
    count = await ledger.reserve("key:1a2b3c4d", job_id, QuotaLimits(active=5))
    """

    def __init__(
        self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE, window_ms: int = DAY_MS
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._window_ms = window_ms
        self._script = redis.register_script(RESERVE_SCRIPT)

    def _keys(self, caller: str) -> list[str]:
        digest = bucket_digest(caller)
        return [quota_active_key(digest, self._namespace), quota_daily_key(digest, self._namespace)]

    async def reserve(self, caller: str, job_id: str, limits: QuotaLimits) -> QuotaCount:
        args: list[str | int] = [job_id, limits.active, limits.daily, self._window_ms, IDLE_TTL_MS]
        try:
            answer = await self._script(keys=self._keys(caller), args=args)
        except RedisError as exc:
            log.warning("quota ledger unavailable, job let through: %s", exc)
            return QuotaCount(0, 0)
        refused, active, daily, oldest, now = (int(value) for value in answer)
        return QuotaCount(active, daily, REFUSED[refused], float(oldest), float(now))

    async def release(self, caller: str, job_id: str) -> None:
        active, daily = self._keys(caller)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(active, job_id)
                pipe.zrem(daily, job_id)
                await pipe.execute()
        except RedisError as exc:
            log.warning("quota reservation of %s not released: %s", job_id, exc)

    async def active_ids(self, caller: str) -> list[tuple[str, float]]:
        try:
            raw = cast(
                list[tuple[bytes | str, float]],
                await self._redis.zrange(self._keys(caller)[0], 0, -1, withscores=True),
            )
        except RedisError:
            return []
        return [
            (item.decode() if isinstance(item, bytes) else str(item), float(score))
            for item, score in raw
        ]

    async def forget(self, caller: str, job_ids: list[str]) -> None:
        if job_ids:
            try:
                await self._redis.zrem(self._keys(caller)[0], *job_ids)
            except RedisError as exc:
                log.warning("finished jobs not dropped from the quota: %s", exc)
