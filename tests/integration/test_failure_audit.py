"""Audit rows for refused requests: one row per source per window, counts kept, bounded."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.auth.failure_audit import AUTH_FAILURE, OVERFLOW_SOURCE, FailureAudit
from comfyui_gateway.db.queries.audit import AuditLog

Sessions = async_sessionmaker[AsyncSession]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def rows(sessions: Sessions) -> list[tuple[str, str, int]]:
    async with sessions() as session:
        found = await AuditLog.search(session, action=AUTH_FAILURE, limit=500)
    return [(e.actor, e.target, int((e.details or {})["count"])) for e in reversed(found)]


async def test_an_attack_costs_one_row_per_window(sessions: Sessions) -> None:
    clock = Clock()
    audit = FailureAudit(sessions, window_s=60, clock=clock)
    for _ in range(500):
        await audit.record("ip:198.51.100.1", AUTH_FAILURE, "/m", "Invalid API key")
    assert await rows(sessions) == [("ip:198.51.100.1", "/m", 1)]
    clock.now += 61
    await audit.record("ip:198.51.100.1", AUTH_FAILURE, "/m", "Invalid API key")
    assert await rows(sessions) == [("ip:198.51.100.1", "/m", 1), ("ip:198.51.100.1", "/m", 500)]
    await audit.record("ip:198.51.100.1", AUTH_FAILURE, "/m", "Invalid API key")
    await audit.flush()
    assert (await rows(sessions))[-1] == ("ip:198.51.100.1", "/m", 1)


async def test_sources_are_bounded(sessions: Sessions) -> None:
    audit = FailureAudit(sessions, window_s=60, max_sources=3, clock=Clock())
    for n in range(20):
        await audit.record(f"ip:10.0.0.{n}", AUTH_FAILURE, "/m", "Invalid API key")
    await audit.flush()
    found = await rows(sessions)
    actors = [actor for actor, _, _ in found]
    assert actors[:4] == ["ip:10.0.0.0", "ip:10.0.0.1", "ip:10.0.0.2", OVERFLOW_SOURCE]
    assert sum(count for _, _, count in found) == 20
    assert len(found) == 5  # 4 first rows + the overflow's pending count
