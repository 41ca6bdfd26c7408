"""The webhook outbox: ``webhook_deliveries`` rows, one per attempt.

A job's first row is written *in the same transaction* as its terminal state (see
``jobs.transitions``), so a crash between finishing a job and delivering cannot lose the
webhook. A row with ``next_attempt_at`` set is due at that time; a deliverer claims
it by pushing ``next_attempt_at`` forward by a lease (a conditional UPDATE, so two
deliverers never send the same attempt), POSTs, then records the outcome on the row
and, while retries remain, inserts the next attempt's row — again in one transaction.
A deliverer that dies mid-POST leaves the row to come due again when its lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, false, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Insert

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.webhook_delivery import WebhookDelivery
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import UTCDateTime, utcnow

LEASE_S = 60.0
"""How long a claimed attempt stays invisible to other deliverers (> the 10 s timeout)."""


def first_attempt(job_id: str, now: datetime | None = None) -> Insert:
    """INSERT the job's first delivery row if it has a callback URL (else nothing).

    Built as ``INSERT ... SELECT FROM jobs`` so the caller need not load the job.
    """
    now = now or utcnow()
    stamp = literal(now, UTCDateTime())
    rows = select(Job.id, Job.callback_url, literal(1), false(), stamp, stamp).where(
        Job.id == job_id, Job.callback_url.is_not(None), Job.callback_url != ""
    )
    columns = ["job_id", "url", "attempt", "succeeded", "created_at", "next_attempt_at"]
    return insert(WebhookDelivery).from_select(columns, rows)


async def add_first_attempt(session: AsyncSession, job_id: str) -> None:
    """Queue the job's webhook inside the caller's transaction (no commit here)."""
    await session.execute(first_attempt(job_id))


@dataclass(frozen=True)
class DueAttempt:
    """A claimed attempt: POST ``url`` for ``job_id`` as attempt number ``attempt``."""

    id: int
    job_id: str
    url: str
    attempt: int


async def claim_due(session: AsyncSession, *, limit: int = 20) -> list[DueAttempt]:
    """Claim up to ``limit`` due attempts; each is this caller's until its lease ends."""
    now = utcnow()
    with translate_db_errors():
        rows = (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                .where(
                    WebhookDelivery.succeeded.is_(False),
                    WebhookDelivery.next_attempt_at.is_not(None),
                    WebhookDelivery.next_attempt_at <= now,
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            )
        ).all()
        claimed: list[DueAttempt] = []
        for row_id, due_at in rows:
            result = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == row_id, WebhookDelivery.next_attempt_at == due_at)
                .values(next_attempt_at=now + timedelta(seconds=LEASE_S))
                .execution_options(synchronize_session=False)
            )
            if isinstance(result, CursorResult) and result.rowcount == 1:
                row = await session.get(WebhookDelivery, row_id)
                assert row is not None
                claimed.append(DueAttempt(row.id, row.job_id, row.url, row.attempt))
        await session.commit()
    return claimed


async def record_outcome(
    session: AsyncSession,
    attempt: DueAttempt,
    *,
    status_code: int | None,
    error: str | None,
    retry_in_s: float | None,
    log_line: tuple[str, str] | None = None,
) -> None:
    """Write what happened to ``attempt``; schedule the next one if ``retry_in_s``.

    ``log_line`` (level, message) joins the job's logs in the same transaction, so whoever
    sees the outcome also finds its line."""
    now = utcnow()
    with translate_db_errors():
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == attempt.id)
            .values(
                status_code=status_code,
                error=error,
                succeeded=error is None,
                delivered_at=now,
                next_attempt_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        if error is not None and retry_in_s is not None:
            session.add(
                WebhookDelivery(
                    job_id=attempt.job_id,
                    url=attempt.url,
                    attempt=attempt.attempt + 1,
                    succeeded=False,
                    created_at=now,
                    next_attempt_at=now + timedelta(seconds=retry_in_s),
                )
            )
        if log_line is not None:
            level, message = log_line
            session.add(JobLog(job_id=attempt.job_id, level=level, message=message))
        await session.commit()


async def list_deliveries(session: AsyncSession, job_id: str) -> Sequence[WebhookDelivery]:
    """Every attempt for a job, oldest first (what its owner may inspect)."""
    with translate_db_errors():
        rows = await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.job_id == job_id)
            .order_by(WebhookDelivery.id)
        )
        return rows.all()
