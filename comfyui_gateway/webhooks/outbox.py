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
from datetime import timedelta
from typing import cast

from sqlalchemy import CursorResult, Table, bindparam, false, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.webhook_delivery import WebhookDelivery
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import UTCDateTime, utcnow

LEASE_S = 60.0
"""How long a claimed attempt stays invisible to other deliverers (> the 10 s timeout)."""


_FIRST_ATTEMPT = insert(cast(Table, WebhookDelivery.__table__)).from_select(
    ["job_id", "url", "attempt", "succeeded", "created_at", "next_attempt_at"],
    select(
        Job.id,
        Job.callback_url,
        literal(1),
        false(),
        bindparam("first_at", type_=UTCDateTime()),
        bindparam("first_due_at", type_=UTCDateTime()),
    ).where(
        Job.id == bindparam("first_job"),
        Job.callback_url.is_not(None),
        Job.callback_url != "",
    ),
)
"""INSERT the job's first delivery row if it has a callback URL (else nothing), as
``INSERT ... SELECT FROM jobs`` so the caller need not load the job. Built once, as
are the claim's statements below: building them cost more than running them. On the
table, not the mapped class: an ORM insert with parameters is a bulk insert of rows."""


async def add_first_attempt(session: AsyncSession, job_id: str) -> None:
    """Queue the job's webhook inside the caller's transaction (no commit here)."""
    now = utcnow()
    values = {"first_job": job_id, "first_at": now, "first_due_at": now}
    await session.execute(_FIRST_ATTEMPT, values)


@dataclass(frozen=True)
class DueAttempt:
    """A claimed attempt: POST ``url`` for ``job_id`` as attempt number ``attempt``."""

    id: int
    job_id: str
    url: str
    attempt: int


_DUE = (
    select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
    .where(
        WebhookDelivery.succeeded.is_(False),
        WebhookDelivery.next_attempt_at.is_not(None),
        WebhookDelivery.next_attempt_at <= bindparam("due_by", type_=UTCDateTime()),
    )
    .order_by(WebhookDelivery.next_attempt_at)
    .limit(bindparam("due_limit"))
)
_CLAIM = (
    update(WebhookDelivery)
    .where(
        WebhookDelivery.id == bindparam("claim_id"),
        WebhookDelivery.next_attempt_at == bindparam("claim_due_at", type_=UTCDateTime()),
    )
    .values(next_attempt_at=bindparam("lease_until", type_=UTCDateTime()))
    .execution_options(synchronize_session=False)
)


async def claim_due(session: AsyncSession, *, limit: int = 20) -> list[DueAttempt]:
    """Claim up to ``limit`` due attempts; each is this caller's until its lease ends."""
    now = utcnow()
    lease_until = now + timedelta(seconds=LEASE_S)
    with translate_db_errors():
        rows = (await session.execute(_DUE, {"due_by": now, "due_limit": limit})).all()
        claimed: list[DueAttempt] = []
        for row_id, due_at in rows:
            values = {"claim_id": row_id, "claim_due_at": due_at, "lease_until": lease_until}
            result = await session.execute(_CLAIM, values)
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
