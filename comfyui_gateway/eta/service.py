"""A job's queue position and ETA, read from the database and the backend reports.

Position counts the queued jobs that run before it: every queued job of a higher
priority, and within its own priority the owner-fair order — round-robin by owner,
each round in queue order. A job that is its owner's k-th queued job of that priority
runs in round k, so jobs ahead of it are those with a smaller round, or the same
round and an earlier ``created_at``. (Without fair share this only reorders jobs of
different owners; the count ahead of an owner's own jobs is the same.) New arrivals
of other owners can join earlier rounds, so a position may grow: every reading says
what holds if nobody else submits.

``etaSeconds`` is the time until the job *finishes*: its start from ``forecast``
over the slots (reachable backends x ``MAX_CONCURRENCY``; the configured backends
when none reports) plus its own estimated execution. A running job's ETA is its
estimate minus the time it has run; a finished job's is 0. Samples and slots are
cached ``cache_s`` so a burst of creates costs one query each, not three.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import UTCDateTime, utcnow
from comfyui_gateway.eta.estimator import ExecutionEstimator
from comfyui_gateway.eta.forecast import forecast_runs
from comfyui_gateway.eta.samples import drain_rate, recent_samples
from comfyui_gateway.eta.work import work_units
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus

PRIORITY_RANK = {JobPriority.HIGH: 0, JobPriority.NORMAL: 1, JobPriority.LOW: 2}
MAX_AHEAD_ROWS = 500
"""Queued jobs read (oldest first) per reading of the queue; the younger ones of the same
or a higher priority count as ahead, each at the mean estimate of those read."""
DEFAULT_CACHE_S = 5.0
QUEUE_CACHE_S = 1.0
"""How long one reading of the queue is shared by GETs and watchers."""
FRESH_CACHE_S = 0.25
"""How old a reading a create may use: a job that started or ended since is counted as
it was (at most this stale); jobs queued since are counted apart."""


@dataclass(frozen=True)
class JobEta:
    """``position``: 1-based among queued jobs (0 when not queued); ``eta_seconds``:
    whole seconds until the job should finish (0 once it has)."""

    position: int = 0
    eta_seconds: int = 0


@dataclass(frozen=True)
class _QueueState:
    queued: list[_Queued]
    running: list[_Running]
    read_at: datetime
    unread: dict[JobPriority, int]
    """When the reading stopped at MAX_AHEAD_ROWS: queued jobs per priority not read."""
    cut_at: datetime | None = None
    """``created_at`` of the last job read when the reading was cut; None when whole."""
    index: dict[tuple[str, JobPriority], list[float]] | None = None

    def ahead_seconds(self, job: Job) -> list[float]:
        """Estimates of the read jobs that run before ``job``. A job younger than all of
        them (a create, mostly) takes the fast way: every owner's first k jobs of its
        priority are ahead of it, k its own round, and every higher-priority job."""
        if self.queued and job.created_at > self.queued[-1].created_at:
            return self._ahead_of_newest(job)
        return [q.seconds for q in fair_share_ahead(self.queued, job)]

    def _ahead_of_newest(self, job: Job) -> list[float]:
        by_owner = self._by_owner()
        rank = PRIORITY_RANK[job.priority]
        own_round = len(by_owner.get((job.owner, job.priority), ())) + 1
        ahead: list[float] = []
        for (owner, priority), seconds in by_owner.items():
            if PRIORITY_RANK[priority] < rank:
                ahead += seconds
            elif priority is job.priority:
                ahead += seconds if owner == job.owner else seconds[:own_round]
        return ahead

    def _by_owner(self) -> dict[tuple[str, JobPriority], list[float]]:
        """Estimates per (owner, priority), oldest first: built once per reading."""
        if self.index is None:
            index: dict[tuple[str, JobPriority], list[float]] = {}
            for q in self.queued:
                index.setdefault((q.owner, q.priority), []).append(q.seconds)
            object.__setattr__(self, "index", index)
        return self.index or {}

    def unread_ahead(self, job: Job) -> int:
        """Unread jobs of the job's priority or higher, when the job is younger than the
        cut (an older job has them behind it); the job itself is one of them."""
        if self.cut_at is None or job.created_at <= self.cut_at:
            return 0
        rank = PRIORITY_RANK[job.priority]
        return max(0, sum(n for p, n in self.unread.items() if PRIORITY_RANK[p] <= rank) - 1)


@dataclass(frozen=True)
class _Running:
    id: str
    seconds: float
    """Estimated execution, at the reading."""
    started_at: datetime | None


@dataclass(frozen=True)
class _Queued:
    id: str
    owner: str
    priority: JobPriority
    created_at: datetime
    seconds: float = 0.0
    """Estimated execution, at the reading."""


class EtaService:
    """See the module docstring::

    etas = EtaService(sessions, reports, backends=["http://gpu1:8188"], concurrency=1)
    async with sessions() as session:
        eta = await etas.for_job(session, job)   # JobEta(position=3, eta_seconds=41)
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reports: BackendReports | None,
        backends: Sequence[str],
        concurrency: int,
        *,
        cache_s: float = DEFAULT_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._reports = reports
        self._configured = max(1, len(backends))
        self._concurrency = max(1, concurrency)
        self._cache_s = cache_s
        self._clock = clock
        self._estimator: tuple[float, ExecutionEstimator] | None = None
        self._slots: tuple[float, int] | None = None
        self._drain: tuple[float, float] | None = None
        self._queue: tuple[float, _QueueState] | None = None
        self._reading: asyncio.Future[_QueueState | None] | None = None

    async def for_job(self, session: AsyncSession, job: Job, *, fresh: bool = False) -> JobEta:
        """The job's position and ETA; ``fresh``: from a reading of the queue at most
        FRESH_CACHE_S old (or one under way), the jobs queued since it counted apart, so
        a create counts itself and the jobs submitted just before it."""
        estimator = await self._current_estimator(session)
        own = estimator.seconds(job.workflow_id, work_units(job.inputs))
        if job.status.is_terminal:
            return JobEta()
        if job.status is JobStatus.RUNNING:
            ran = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
            return JobEta(0, _whole(own - ran))
        state = await self._queue_state(session, estimator, fresh)
        now = utcnow()
        for run in state.running:  # a create's job may have started before its ETA
            if run.id == job.id:
                ran = (now - run.started_at).total_seconds() if run.started_at else 0.0
                return JobEta(0, _whole(own - ran))
        ahead_s = state.ahead_seconds(job)
        # The unread tail and the jobs queued since the reading are runs of one
        # estimate each: passed as (seconds, count), never expanded job by job.
        runs = [(seconds, sum(1 for _ in run)) for seconds, run in itertools.groupby(ahead_s)]
        extra = state.unread_ahead(job)
        if extra:
            runs.append((sum(ahead_s) / len(ahead_s) if ahead_s else own, extra))
        since = 0
        if job.created_at > state.read_at:  # queued since the reading (a burst): like it
            since = await _queued_since(session, state.read_at, job)
            runs.append((own, since))
        remaining = [
            r.seconds - ((now - r.started_at).total_seconds() if r.started_at else 0.0)
            for r in state.running
        ]
        _, finish = forecast_runs(remaining, runs, own, await self._slot_count())
        return JobEta(len(ahead_s) + extra + since + 1, _whole(finish))

    async def finish_seconds(self, job_id: str) -> float | None:
        """Seconds until ``job_id`` should finish (None if it is unknown)."""
        async with self._sessions() as session:
            job = await session.get(Job, job_id)
            if job is None:
                return None
            return float((await self.for_job(session, job)).eta_seconds)

    async def drain_per_second(self) -> float:
        """Jobs finished per second recently (cached): how fast the queue empties."""
        now = self._clock()
        if self._drain is None or now - self._drain[0] > self._cache_s:
            async with self._sessions() as session:
                self._drain = (now, await drain_rate(session))
        return self._drain[1]

    async def service_rate(self) -> float:
        """Jobs per second the slots can finish, from measured execution times."""
        async with self._sessions() as session:
            estimator = await self._current_estimator(session)
        mean_s = estimator.typical_seconds()
        return await self._slot_count() / mean_s if mean_s > 0 else 0.0

    async def _current_estimator(self, session: AsyncSession) -> ExecutionEstimator:
        now = self._clock()
        cached = self._estimator
        ttl = self._cache_s if cached is not None and cached[1].measured else FRESH_CACHE_S
        if cached is None or now - cached[0] > ttl:
            # Unmeasured is cached briefly: the first finished job should count at once.
            self._estimator = cached = (now, ExecutionEstimator(await recent_samples(session)))
        return cached[1]

    async def _slot_count(self) -> int:
        now = self._clock()
        if self._slots is None or now - self._slots[0] > self._cache_s:
            reachable = 0
            if self._reports is not None:
                reports = (await self._reports.latest()).values()
                reachable = sum(1 for r in reports if r.reachable and r.is_fresh())
            self._slots = (now, (reachable or self._configured) * self._concurrency)
        return self._slots[1]

    async def _queue_state(
        self, session: AsyncSession, estimator: ExecutionEstimator, fresh: bool
    ) -> _QueueState:
        """The last reading of the queue if it is recent enough — QUEUE_CACHE_S, or
        FRESH_CACHE_S for a create, which also counts the jobs queued since (reading
        the queue per create cost a 400-job backlog half its submission rate) — else
        a new one. A reading is at most MAX_AHEAD_ROWS rows, whatever the backlog.

        Callers that find a reading under way share it: when the cache lapsed under a
        burst, each of 16 concurrent creates made its own reading of the same rows
        (16 % of the server's CPU with PostgreSQL). A shared reading began before the
        caller's job was queued at most; the jobs queued since are counted apart."""
        now = self._clock()
        cached = self._queue
        if cached is not None and now - cached[0] <= (FRESH_CACHE_S if fresh else QUEUE_CACHE_S):
            return cached[1]
        if self._reading is not None and self._reading.get_loop() is asyncio.get_running_loop():
            shared = await asyncio.shield(self._reading)
            if shared is not None:
                return shared
        return await self._new_reading(session, estimator, now)

    async def _new_reading(
        self, session: AsyncSession, estimator: ExecutionEstimator, now: float
    ) -> _QueueState:
        """Read the queue on ``session``; whoever waits on the reading gets it too (None
        if it failed: each of them then reads on its own session)."""
        reading: asyncio.Future[_QueueState | None] = asyncio.get_running_loop().create_future()
        self._reading = reading
        state: _QueueState | None = None
        try:
            state = await _read_queue(session, estimator)
            self._queue = (now, state)
            return state
        finally:
            reading.set_result(state)
            if self._reading is reading:
                self._reading = None


_QUEUED_ROWS = (
    select(Job.id, Job.owner, Job.priority, Job.created_at, Job.workflow_id, Job.inputs)
    .where(Job.status == JobStatus.QUEUED)
    .order_by(Job.created_at, Job.id)
    .limit(MAX_AHEAD_ROWS)
)
_QUEUED_PER_PRIORITY = (
    select(Job.priority, func.count(Job.id))
    .where(Job.status == JobStatus.QUEUED)
    .group_by(Job.priority)
)
_RUNNING_ROWS = select(Job.id, Job.workflow_id, Job.inputs, Job.started_at).where(
    Job.status == JobStatus.RUNNING
)
"""The queue reading's statements, built once like ``_QUEUED_SINCE`` below."""


async def _read_queue(session: AsyncSession, estimator: ExecutionEstimator) -> _QueueState:
    """Queued jobs oldest first (at most MAX_AHEAD_ROWS) with their estimates, how many
    wait per priority beyond them, and the running jobs."""
    read_at = utcnow()
    rows = await session.execute(_QUEUED_ROWS)
    queued = [
        _Queued(id_, owner, priority, created, estimator.seconds(wf, work_units(inputs)))
        for id_, owner, priority, created, wf, inputs in rows.all()
    ]
    unread: dict[JobPriority, int] = {}
    cut_at = None
    if len(queued) == MAX_AHEAD_ROWS:
        counted = await session.execute(_QUEUED_PER_PRIORITY)
        read = Counter(q.priority for q in queued)
        unread = {JobPriority(p): max(0, int(n) - read[JobPriority(p)]) for p, n in counted.all()}
        cut_at = queued[-1].created_at
    running = await session.execute(_RUNNING_ROWS)
    runs = [
        _Running(id_, estimator.seconds(wf, work_units(i)), at) for id_, wf, i, at in running.all()
    ]
    # The two reads are not one snapshot (SQLite reads outside a write transaction): a
    # job claimed between them is in both; it is running.
    started = {run.id for run in runs}
    queued = [q for q in queued if q.id not in started]
    return _QueueState(queued, runs, read_at, unread, cut_at)


_QUEUED_SINCE = select(func.count(Job.id)).where(
    Job.status == JobStatus.QUEUED,
    Job.created_at > bindparam("since_read", type_=UTCDateTime()),
    Job.priority.in_(bindparam("since_priorities", expanding=True)),
    Job.id != bindparam("since_job"),
    Job.created_at <= bindparam("since_created", type_=UTCDateTime()),
)
"""Built once: building it on every create cost ~0.3 ms, as much as running it."""


async def _queued_since(session: AsyncSession, read_at: datetime, job: Job) -> int:
    """Jobs queued after a reading, not counting ``job`` (of the same priority or higher:
    an approximation, as the newest are mostly behind older jobs of other owners)."""
    rank = PRIORITY_RANK[job.priority]
    priorities = [p for p, r in PRIORITY_RANK.items() if r <= rank]
    values = {
        "since_read": read_at,
        "since_priorities": priorities,
        "since_job": job.id,
        "since_created": job.created_at,
    }
    return int(await session.scalar(_QUEUED_SINCE, values) or 0)


def fair_share_ahead(queued: Sequence[_Queued], job: Job) -> list[_Queued]:
    """Of ``queued`` (oldest first, any priority), those that run before ``job``: higher
    priorities, then the owner-fair order of its own (see the module docstring)."""
    rank = PRIORITY_RANK[job.priority]
    queued = [q for q in queued if q.id != job.id and PRIORITY_RANK[q.priority] <= rank]
    rounds: Counter[tuple[str, JobPriority]] = Counter()
    ranked: list[tuple[int, _Queued]] = []
    own_round = 1
    for item in sorted([*queued, _as_queued(job)], key=lambda q: (q.created_at, q.id)):
        rounds[(item.owner, item.priority)] += 1
        if item.id == job.id:
            own_round = rounds[(item.owner, item.priority)]
        else:
            ranked.append((rounds[(item.owner, item.priority)], item))
    return [
        item
        for round_, item in ranked
        if item.priority is not job.priority
        or (round_, item.created_at, item.id) < (own_round, job.created_at, job.id)
    ]


def _as_queued(job: Job) -> _Queued:
    return _Queued(job.id, job.owner, job.priority, job.created_at)


def _whole(seconds: float) -> int:
    """Nearest whole second, at least 1: a job not yet finished is never "due now"."""
    return max(1, math.floor(seconds + 0.5))
