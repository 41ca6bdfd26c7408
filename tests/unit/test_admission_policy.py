"""QUOTA_OVERRIDES and MAX_QUEUE_DEPTH parsing, limit resolution, the memory ledger."""

from __future__ import annotations

import pytest

from comfyui_gateway.admission.depth_limits import DepthSyntaxError, parse_depth_limits
from comfyui_gateway.admission.quota_ledger import MemoryQuotaLedger
from comfyui_gateway.admission.quota_policy import (
    QuotaLimits,
    QuotaPolicy,
    QuotaSyntaxError,
    parse_overrides,
)
from comfyui_gateway.jobs.priority import JobPriority


def test_overrides_resolve_most_specific_first() -> None:
    overrides = parse_overrides(
        " role:admin=active:20 ; key:1a2b3c4d=active:50,daily:0;sub:alice=daily:7;"
    )
    policy = QuotaPolicy(QuotaLimits(active=5, daily=100), overrides)
    assert policy.limits_for("bob", "user") == QuotaLimits(5, 100)
    assert policy.limits_for("key:1a2b3c4d", "user") == QuotaLimits(50, 0)
    assert policy.limits_for("alice", "user") == QuotaLimits(5, 7)
    assert policy.limits_for("root", "admin") == QuotaLimits(20, 0)
    assert policy.limits_for("alice", "admin") == QuotaLimits(20, 7)


def test_admins_are_exempt_unless_named() -> None:
    policy = QuotaPolicy(QuotaLimits(active=1, daily=1))
    assert policy.limits_for("root", "admin").unlimited
    assert not QuotaPolicy().enabled and policy.enabled
    assert QuotaPolicy(overrides=parse_overrides("sub:x=daily:1")).enabled


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("admin=active:1", "selector"),
        ("role:root=active:1", "role must be"),
        ("role:user", "SELECTOR=LIMITS"),
        ("role:user=weekly:3", "active:N"),
        ("role:user=active:x", "whole number"),
        ("role:user=active:-1", "negative"),
        ("team:a=active:1", "selector"),
    ],
)
def test_bad_overrides_name_the_entry(text: str, fragment: str) -> None:
    with pytest.raises(QuotaSyntaxError, match=fragment):
        parse_overrides(text)


def test_depth_limits_total_and_per_priority() -> None:
    assert not parse_depth_limits("0").enabled and not parse_depth_limits("").enabled
    total = parse_depth_limits("10")
    depth = {JobPriority.HIGH: 2, JobPriority.NORMAL: 7, JobPriority.LOW: 0}
    assert total.excess(depth, JobPriority.LOW) == 0
    assert total.excess({**depth, JobPriority.LOW: 1}, JobPriority.LOW) == 1
    mixed = parse_depth_limits("high:2, total:20")
    assert mixed.excess(depth, JobPriority.HIGH) == 1
    assert mixed.excess(depth, JobPriority.NORMAL) == 0  # normal has no limit of its own
    for bad in ("urgent:3", "high:x", "high"):
        with pytest.raises(DepthSyntaxError):
            parse_depth_limits(bad)


async def test_memory_ledger_counts_active_and_a_rolling_day() -> None:
    now = [1000.0]
    ledger = MemoryQuotaLedger(window_ms=10_000, clock=lambda: now[0])
    limits = QuotaLimits(active=2, daily=3)
    assert (await ledger.reserve("a", "j1", limits)).reserved
    assert (await ledger.reserve("a", "j2", limits)).reserved
    refused = await ledger.reserve("a", "j3", limits)
    assert refused.refused == "active" and refused.active == 2
    assert (await ledger.reserve("b", "k1", limits)).reserved  # callers are apart
    assert [j for j, _ in await ledger.active_ids("a")] == ["j1", "j2"]
    await ledger.forget("a", ["j1"])  # finished: frees the active slot, keeps the daily one
    assert (await ledger.reserve("a", "j3", limits)).reserved
    await ledger.forget("a", ["j2", "j3"])
    daily = await ledger.reserve("a", "j4", limits)
    assert daily.refused == "daily" and daily.oldest_daily_ms == 1_000_000
    await ledger.release("a", "j3")  # never stored: gives the daily slot back
    assert (await ledger.reserve("a", "j4", limits)).reserved
    now[0] += 10.001  # the window moved past every admission
    assert (await ledger.reserve("a", "j5", QuotaLimits(daily=1))).reserved
