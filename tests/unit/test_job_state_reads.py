"""Watchers of one job share its database reads, and never each other's jobs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.errors import JobNotFound
from comfyui_gateway.events import EventType
from comfyui_gateway.jobs.state_reads import DUE_MARGIN_S, JobStateReads
from tests.job_rows import database_holding, running_job


class CountingSessions:
    """The real session factory, counting the sessions opened (one per shared read)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        self.opened += 1
        async with self._sessions() as session:
            yield session


@pytest.fixture
async def stored_job(tmp_path: Path) -> AsyncIterator[tuple[CountingSessions, str]]:
    job = running_job()
    async with database_holding(tmp_path / "reads.db", job) as sessions:
        yield CountingSessions(sessions), job.id


async def test_concurrent_snapshots_share_one_read(
    stored_job: tuple[CountingSessions, str],
) -> None:
    sessions, job_id = stored_job
    reads = JobStateReads(sessions)  # type: ignore[arg-type]
    subscribed = time.monotonic()
    events = await asyncio.gather(
        *(reads.read(job_id, "alice", EventType.SNAPSHOT, not_before=subscribed) for _ in range(50))
    )
    assert sessions.opened == 1
    assert {event.progress for event in events} == {40.0}
    assert all(event.type is EventType.SNAPSHOT for event in events)


async def test_a_snapshot_never_reuses_a_read_older_than_its_subscription(
    stored_job: tuple[CountingSessions, str],
) -> None:
    sessions, job_id = stored_job
    now = [10.2]
    reads = JobStateReads(sessions, recheck_fresh_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]

    async def read(kind: EventType, recheck: bool = False) -> None:
        now[0] += 0.001
        await reads.read(job_id, None, kind, not_before=now[0], recheck=recheck)

    await read(EventType.SNAPSHOT)
    await read(EventType.SNAPSHOT)
    assert sessions.opened == 2
    # A recheck may take a read that started within the freshness window.
    await read(EventType.STATUS, recheck=True)
    await read(EventType.STATUS, recheck=True)
    assert sessions.opened == 3


async def test_a_shared_read_still_hides_the_job_from_another_owner(
    stored_job: tuple[CountingSessions, str],
) -> None:
    sessions, job_id = stored_job
    reads = JobStateReads(sessions)  # type: ignore[arg-type]
    subscribed = time.monotonic()
    mine = reads.read(job_id, "alice", EventType.SNAPSHOT, not_before=subscribed)
    theirs = reads.read(job_id, "mallory", EventType.SNAPSHOT, not_before=subscribed)
    results = await asyncio.gather(mine, theirs, return_exceptions=True)
    assert results[0].progress == 40.0  # type: ignore[union-attr]
    assert isinstance(results[1], JobNotFound)
    assert sessions.opened == 1


async def test_watchers_that_attached_apart_recheck_on_one_tick(
    stored_job: tuple[CountingSessions, str],
) -> None:
    sessions, _ = stored_job
    reads = JobStateReads(sessions, recheck_fresh_s=1.0)  # type: ignore[arg-type]
    early = 10.25 + reads.recheck_due_in(1.0, now=10.25)
    late = 10.9 + reads.recheck_due_in(1.0, now=10.9)
    assert early == pytest.approx(late)
    assert early == pytest.approx(11.0 + DUE_MARGIN_S)


async def test_a_tick_never_comes_before_the_last_read_went_stale(
    stored_job: tuple[CountingSessions, str],
) -> None:
    sessions, _ = stored_job
    reads = JobStateReads(sessions, recheck_fresh_s=1.0)  # type: ignore[arg-type]
    # Shorter intervals than the freshness window would only reuse the last read.
    assert reads.recheck_due_in(0.2, now=10.25) == pytest.approx(0.75 + DUE_MARGIN_S)
    # Woken on a tick, the next one is a whole period away.
    assert reads.recheck_due_in(1.0, now=11.0) == pytest.approx(1.0 + DUE_MARGIN_S)


async def test_a_recheck_never_reuses_the_read_of_an_earlier_tick(
    stored_job: tuple[CountingSessions, str],
) -> None:
    """A tick's first read that started late (a busy loop) is not the next tick's read:
    it would show the next tick's watchers a queue position nearly a second old."""
    sessions, job_id = stored_job
    now = [10.3]
    reads = JobStateReads(sessions, recheck_fresh_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]

    async def recheck() -> None:
        await reads.read(job_id, None, EventType.STATUS, not_before=now[0], recheck=True)

    await recheck()
    now[0] = 10.95
    await recheck()
    assert sessions.opened == 1  # the same tick's read, shared
    now[0] = 11.0 + DUE_MARGIN_S
    await recheck()
    assert sessions.opened == 2  # 0.7 s old, but from the tick before
