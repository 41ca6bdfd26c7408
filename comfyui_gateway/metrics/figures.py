"""The numbers behind one scrape, read from shared state.

Counts and histograms come from the jobs and webhook tables (the source of truth, so
every replica agrees and nothing is lost when a process restarts); histograms are
cumulative over every job the database holds, which keeps them monotonic as
Prometheus expects. Queue depth comes from the queue itself, backend figures from the
workers' reports, event counts from ``Counters``. Each scrape costs a handful of
aggregate queries; no per-job work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.webhook_delivery import WebhookDelivery
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobqueue.base import PRIORITY_ORDER, JobQueue
from comfyui_gateway.jobs.status import TERMINAL_STATUSES, JobStatus
from comfyui_gateway.metrics import catalogue
from comfyui_gateway.metrics.counters import Counters, SeriesKey
from comfyui_gateway.scheduling.backlog import ModelBacklog, model_backlog

Labels = tuple[str, ...]


@dataclass
class Histogram:
    """Cumulative bucket counts (same order as ``bounds``), count and sum, in seconds."""

    bounds: tuple[float, ...]
    buckets: list[int]
    count: int = 0
    total: float = 0.0


@dataclass(frozen=True)
class BackendFigures:
    up: bool
    queue_depth: int
    running_jobs: int

    @property
    def busy(self) -> bool:
        return self.running_jobs > 0 or self.queue_depth > 0


@dataclass
class Figures:
    """Everything one scrape reports; ``exposition.render`` turns it into text."""

    jobs_created: dict[Labels, int] = field(default_factory=dict)
    jobs_finished: dict[Labels, int] = field(default_factory=dict)
    jobs_failed: dict[Labels, int] = field(default_factory=dict)
    jobs_active: dict[str, int] = field(default_factory=dict)
    queue_depth: dict[str, int] = field(default_factory=dict)
    queue_oldest_age_s: dict[str, float] = field(default_factory=dict)
    model_backlog: dict[str, ModelBacklog] = field(default_factory=dict)
    job_duration: dict[Labels, Histogram] = field(default_factory=dict)
    queue_wait: dict[Labels, Histogram] = field(default_factory=dict)
    comfyui_execution: dict[Labels, Histogram] = field(default_factory=dict)
    backends: dict[str, BackendFigures] = field(default_factory=dict)
    cache_lookups: int = 0
    cache_hits: int = 0
    webhook_deliveries: dict[str, int] = field(default_factory=dict)
    webhook_pending: int = 0
    counters: dict[SeriesKey, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSources:
    """Where the figures come from; built once by the composition root."""

    sessions: async_sessionmaker[AsyncSession]
    queue: JobQueue
    reports: BackendReports
    counters: Counters
    backends: Sequence[str] = ()
    """The configured COMFYUI_URLs: listed even before any worker reported on them."""


async def gather_figures(sources: MetricSources) -> Figures:
    figures = Figures()
    depth = await sources.queue.depth()
    figures.queue_depth = {p.value: depth.get(p, 0) for p in PRIORITY_ORDER}
    figures.model_backlog = model_backlog(await sources.queue.waiting(), time.time())
    async with sources.sessions() as session:
        await _job_counts(session, figures)
        await _histograms(session, figures)
        running = await _running_by_backend(session)
        await _webhooks(session, figures)
    await _backends(sources, running, figures)
    figures.counters = await sources.counters.snapshot()
    return figures


async def _job_counts(session: AsyncSession, figures: Figures) -> None:
    rows = await session.execute(select(Job.workflow_id, func.count()).group_by(Job.workflow_id))
    figures.jobs_created = {(workflow,): count for workflow, count in rows.all()}
    terminal = [status.value for status in TERMINAL_STATUSES]
    finished = await session.execute(
        select(Job.workflow_id, Job.status, func.count())
        .where(Job.status.in_(terminal))
        .group_by(Job.workflow_id, Job.status)
    )
    figures.jobs_finished = {(w, _value(s)): count for w, s, count in finished.all()}
    failed = await session.execute(
        select(Job.workflow_id, Job.error_code, func.count())
        .where(Job.status == JobStatus.FAILED.value)
        .group_by(Job.workflow_id, Job.error_code)
    )
    figures.jobs_failed = {(w, code or "INTERNAL"): count for w, code, count in failed.all()}
    active = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
    by_status = await session.execute(
        select(Job.status, func.count()).where(Job.status.in_(active)).group_by(Job.status)
    )
    counts = {_value(status): count for status, count in by_status.all()}
    figures.jobs_active = {status: counts.get(status, 0) for status in active}
    queued_since = func.coalesce(Job.queued_at, Job.created_at)
    oldest_rows: Any = await session.execute(
        select(Job.priority, func.min(queued_since))
        .where(Job.status == JobStatus.QUEUED.value)
        .group_by(Job.priority)
    )
    now = utcnow()
    oldest = {_value(p): _aware_age(now, moment) for p, moment in oldest_rows.all()}
    figures.queue_oldest_age_s = {p.value: oldest.get(p.value, 0.0) for p in PRIORITY_ORDER}
    row = (
        await session.execute(select(func.count(Job.cache_key), func.count(Job.cached_from_job_id)))
    ).one()
    figures.cache_lookups, figures.cache_hits = int(row[0]), int(row[1])


async def _histograms(session: AsyncSession, figures: Figures) -> None:
    dialect = session.get_bind().dialect.name
    ran = Job.cached_from_job_id.is_(None)
    terminal = Job.status.in_([status.value for status in TERMINAL_STATUSES])
    figures.job_duration = await _histogram(
        session,
        _seconds_between(Job.created_at, Job.completed_at, dialect),
        (Job.workflow_id, Job.status),
        [ran, terminal, Job.completed_at.is_not(None)],
        catalogue.DURATION_BUCKETS_S,
    )
    figures.queue_wait = await _histogram(
        session,
        _seconds_between(func.coalesce(Job.queued_at, Job.created_at), Job.started_at, dialect),
        (Job.priority,),
        [ran, Job.started_at.is_not(None)],
        catalogue.WAIT_BUCKETS_S,
    )
    figures.comfyui_execution = await _histogram(
        session,
        _seconds_between(Job.started_at, Job.completed_at, dialect),
        (Job.workflow_id, Job.backend_url),
        [
            ran,
            Job.status == JobStatus.SUCCEEDED.value,
            Job.backend_url.is_not(None),
            Job.started_at.is_not(None),
            Job.completed_at.is_not(None),
        ],
        catalogue.DURATION_BUCKETS_S,
    )


def _seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    """``end - start`` in seconds, in SQL, on SQLite and PostgreSQL alike."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(ColumnElement[float], func.extract("epoch", end - start))


async def _histogram(
    session: AsyncSession,
    elapsed: ColumnElement[float],
    groups: tuple[Any, ...],
    where: list[Any],
    bounds: tuple[float, ...],
) -> dict[Labels, Histogram]:
    columns = [
        *groups,
        func.count(),
        func.sum(elapsed),
        *(func.sum(case((elapsed <= bound, 1), else_=0)) for bound in bounds),
    ]
    rows = await session.execute(select(*columns).where(*where).group_by(*groups))
    result: dict[Labels, Histogram] = {}
    width = len(groups)
    for row in rows.all():
        labels = tuple(_value(value) for value in row[:width])
        count, total = int(row[width]), float(row[width + 1] or 0.0)
        buckets = [int(value or 0) for value in row[width + 2 :]]
        result[labels] = Histogram(bounds, buckets, count, max(total, 0.0))
    return result


async def _running_by_backend(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Job.backend_url, func.count())
        .where(Job.status == JobStatus.RUNNING.value, Job.backend_url.is_not(None))
        .group_by(Job.backend_url)
    )
    return {str(url): int(count) for url, count in rows.all()}


async def _webhooks(session: AsyncSession, figures: Figures) -> None:
    rows = await session.execute(
        select(WebhookDelivery.succeeded, func.count())
        .where(WebhookDelivery.delivered_at.is_not(None))
        .group_by(WebhookDelivery.succeeded)
    )
    counts = {bool(succeeded): int(count) for succeeded, count in rows.all()}
    figures.webhook_deliveries = {
        "delivered": counts.get(True, 0),
        "failed": counts.get(False, 0),
    }
    pending = await session.scalar(
        select(func.count()).where(WebhookDelivery.delivered_at.is_(None))
    )
    figures.webhook_pending = int(pending or 0)


async def _backends(sources: MetricSources, running: dict[str, int], figures: Figures) -> None:
    reports = await sources.reports.latest()
    now = time.time()
    urls = sorted({*sources.backends, *reports})
    for url in urls:
        report = reports.get(url)
        fresh = report is not None and report.is_fresh(now)
        figures.backends[url] = BackendFigures(
            up=bool(fresh and report is not None and report.reachable),
            queue_depth=report.queue_remaining if fresh and report is not None else 0,
            running_jobs=running.get(url, 0),
        )


def _value(value: Any) -> str:
    """A label value: enums by their value, everything else as text."""
    return str(getattr(value, "value", value))


def _aware_age(now: datetime, moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # aggregates bypass the column type on SQLite
        moment = moment.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - moment).total_seconds())
