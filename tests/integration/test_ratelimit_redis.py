"""The Redis rate limiter: one window shared by many clients (replicas), atomically."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from comfyui_gateway.names import rate_limit_key
from comfyui_gateway.ratelimit import RedisRateLimiter
from comfyui_gateway.ratelimit.base import bucket_digest
from tests.redis_fixtures import REDIS_URL


async def test_window_is_shared_and_resets(redis_client: Redis, namespace: str) -> None:
    other = Redis.from_url(REDIS_URL)  # a second "replica"
    try:
        one = RedisRateLimiter(redis_client, 4, 600, namespace=namespace)
        two = RedisRateLimiter(other, 4, 600, namespace=namespace)
        decisions = [await (one if n % 2 else two).hit("sub:key:abcd1234") for n in range(5)]
        assert [d.count for d in decisions] == [1, 2, 3, 4, 5]
        assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
        assert not decisions[-1].allowed
        assert 0 < decisions[-1].reset_ms <= 600 and decisions[-1].retry_after_s == 1
        await asyncio.sleep(0.7)
        fresh = await two.hit("sub:key:abcd1234")
        assert fresh.allowed and fresh.count == 1
    finally:
        await other.aclose()


async def test_concurrent_hits_are_counted_exactly(redis_client: Redis, namespace: str) -> None:
    limiter = RedisRateLimiter(redis_client, 50, 10_000, namespace=namespace)
    decisions = await asyncio.gather(*(limiter.hit("ip:203.0.113.7") for _ in range(80)))
    assert sorted(d.count for d in decisions) == list(range(1, 81))
    assert sum(d.allowed for d in decisions) == 50


async def test_key_is_namespaced_hashed_and_expires(redis_client: Redis, namespace: str) -> None:
    bucket = "sub:" + "x" * 5000  # caller-chosen subjects never make long keys
    await RedisRateLimiter(redis_client, 10, 5000, namespace=namespace).hit(bucket)
    key = rate_limit_key(bucket_digest(bucket), namespace)
    assert key.startswith(f"{namespace}:ratelimit:") and len(key) < 100
    ttl = await redis_client.pttl(key)
    assert 0 < ttl <= 5000
    await redis_client.delete(key)


async def test_redis_down_lets_requests_through() -> None:
    from tests.ports import free_port
    from tests.redis_fixtures import fail_fast_client

    dead = fail_fast_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        decision = await RedisRateLimiter(dead, 1, 1000, namespace="unused").hit("ip:1.1.1.1")
        assert decision.allowed
    finally:
        await dead.aclose()
