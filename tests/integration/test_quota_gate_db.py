"""The quota gate's lazy prune and the ETA service against real databases (SQLite, PG).

The ledger is the in-process one (the Redis one is covered across replicas in
test_admission_replicas.py); the database is real, since the prune asks it which
recorded jobs are still queued or running.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from comfyui_gateway.admission.quota_gate import ACTIVE_RETRY_S, QuotaGate
from comfyui_gateway.admission.quota_ledger import MemoryQuotaLedger
from comfyui_gateway.admission.quota_policy import QuotaLimits, QuotaPolicy
from comfyui_gateway.db.models import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.errors import QuotaExceeded
from comfyui_gateway.eta.service import EtaService
from comfyui_gateway.jobs import JobPriority, JobStatus

pytest_plugins = ["tests.db_fixtures"]
Sessions = async_sessionmaker[AsyncSession]


def _job(owner: str = "alice", **values: object) -> Job:
    return Job(
        id=str(uuid.uuid4()),
        workflow_id="wf",
        owner=owner,
        inputs={"steps": 20},
        inputs_digest="0" * 64,
        **values,
    )


async def _add(sessions: Sessions, *jobs: Job) -> None:
    async with sessions() as session:
        session.add_all(jobs)
        await session.commit()


async def test_prune_drops_finished_and_lost_ids_never_pending_ones(sessions: Sessions) -> None:
    now = [1000.0]
    ledger = MemoryQuotaLedger(clock=lambda: now[0])
    gate = QuotaGate(QuotaPolicy(QuotaLimits(active=2)), ledger, sessions)
    stored = _job()
    assert (await gate.reserve("alice", "user", stored.id)).headers == {
        "x-quota-active-limit": "2",
        "x-quota-active-remaining": "1",
    }
    await _add(sessions, stored)
    pending = str(uuid.uuid4())  # reserved by a concurrent create, not inserted yet
    await gate.reserve("alice", "user", pending)
    with pytest.raises(QuotaExceeded) as refused:
        await gate.reserve("alice", "user", str(uuid.uuid4()))
    assert refused.value.retry_after_s == ACTIVE_RETRY_S
    assert refused.value.headers["x-quota-active-remaining"] == "0"

    async with sessions() as session:  # the stored one finishes: its slot frees
        await session.execute(
            update(Job).where(Job.id == stored.id).values(status=JobStatus.SUCCEEDED)
        )
        await session.commit()
    third = _job()
    assert (await gate.reserve("alice", "user", third.id)).held
    await _add(sessions, third)
    with pytest.raises(QuotaExceeded):
        await gate.reserve("alice", "user", str(uuid.uuid4()))
    now[0] += 61  # the pending id never got a row: after the grace it counts as lost
    assert (await gate.reserve("alice", "user", str(uuid.uuid4()))).held
    # Admins are unlimited: nothing is even recorded.
    assert not (await gate.reserve("root", "admin", str(uuid.uuid4()))).held


def _history(now: datetime) -> list[Job]:
    """Three jobs that finished a minute ago in 2 s each: the estimator's samples."""
    return [
        _job(
            status=JobStatus.SUCCEEDED,
            started_at=now - timedelta(seconds=60 + 5 * n),
            completed_at=now - timedelta(seconds=58 + 5 * n),
        )
        for n in range(3)
    ]


async def test_eta_counts_running_and_fair_share_ahead(sessions: Sessions) -> None:
    now = utcnow()
    history = _history(now)
    running = _job(status=JobStatus.RUNNING, started_at=now - timedelta(seconds=0.2))
    a1, a2 = (_job("A", created_at=now - timedelta(seconds=10 - n)) for n in range(2))
    b1 = _job("B", created_at=now - timedelta(seconds=1))
    low = _job("C", created_at=now - timedelta(seconds=20), priority=JobPriority.LOW)
    await _add(sessions, *history, running, a1, a2, b1, low)
    etas = EtaService(sessions, None, ["http://gpu:8188"], concurrency=1)
    async with sessions() as session:
        # B's first job runs in round 1, after A's first: running 1.8 s + 2 s + its own 2 s.
        eta = await etas.for_job(session, await session.get(Job, b1.id) or b1, fresh=True)
        assert (eta.position, eta.eta_seconds) == (2, 6)
        eta = await etas.for_job(session, await session.get(Job, a2.id) or a2, fresh=True)
        assert (eta.position, eta.eta_seconds) == (3, 8)
        eta = await etas.for_job(session, await session.get(Job, low.id) or low, fresh=True)
        assert eta.position == 4  # lower priority waits for all three
        eta = await etas.for_job(session, await session.get(Job, running.id) or running)
        assert (eta.position, eta.eta_seconds) == (0, 2)
    # Three jobs finished within the 2 min drain window (the running one has not).
    assert await etas.drain_per_second() == pytest.approx(3 / 120)


async def test_concurrent_creates_share_one_reading_of_the_queue(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    """When the cached reading lapses under a burst, the creates waiting on it share one
    new reading (each made its own before). Proven on PostgreSQL, where a reading waits
    on the network; SQLite's inline reads finish before the next create asks."""
    now = utcnow()
    history = _history(now)  # measured samples: the estimator stays cached across the burst
    queued = [_job("A", created_at=now - timedelta(seconds=10 - n)) for n in range(8)]
    await _add(sessions, *history, *queued)
    clock = [100.0]
    etas = EtaService(sessions, None, ["http://gpu:8188"], concurrency=1, clock=lambda: clock[0])

    async def position(job: Job) -> int:
        async with sessions() as session:
            return (await etas.for_job(session, job, fresh=True)).position

    assert await position(queued[0]) == 1  # the first reading, and the estimator cached
    clock[0] += 1.0  # the reading lapses (FRESH_CACHE_S); the estimator does not
    readings = []

    def count_readings(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "ORDER BY jobs.created_at" in statement:
            readings.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count_readings)
    try:
        positions = await asyncio.gather(*(position(job) for job in queued))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count_readings)
    assert positions == list(range(1, 9))  # A's k-th job is k-th in line
    assert len(readings) == 1
