"""The in-process rate limiter: fixed windows, headers' numbers, independent buckets."""

from __future__ import annotations

import pytest

from comfyui_gateway.ratelimit import MemoryRateLimiter, RateDecision
from comfyui_gateway.ratelimit import memory as memory_module


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_window_counts_then_refuses_then_resets() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(3, 10_000, clock=clock)
    seen = [await limiter.hit("ip:1.2.3.4") for _ in range(4)]
    assert [d.remaining for d in seen] == [2, 1, 0, 0]
    assert [d.allowed for d in seen] == [True, True, True, False]
    assert seen[-1].retry_after_s == 10
    clock.now += 4.2
    refused = await limiter.hit("ip:1.2.3.4")
    assert not refused.allowed and refused.retry_after_s == 6
    clock.now += 6
    again = await limiter.hit("ip:1.2.3.4")
    assert again.allowed and again.remaining == 2


async def test_buckets_are_independent() -> None:
    limiter = MemoryRateLimiter(1, 10_000, clock=Clock())
    assert (await limiter.hit("sub:a")).allowed
    assert not (await limiter.hit("sub:a")).allowed
    assert (await limiter.hit("sub:b")).allowed


async def test_expired_buckets_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "MAX_BUCKETS", 10)
    clock = Clock()
    limiter = MemoryRateLimiter(5, 1000, clock=clock)
    for n in range(10):
        await limiter.hit(f"ip:{n}")
    clock.now += 2
    await limiter.hit("ip:new")
    assert len(limiter._buckets) == 1


def test_decision_numbers() -> None:
    assert RateDecision(10, 11, 1).retry_after_s == 1
    assert RateDecision(10, 11, 1001).retry_after_s == 2
    assert RateDecision(10, 11, 0).remaining == 0
    assert RateDecision(10, 10, 5).allowed
