"""Idempotent job creation: one ``metadata.requestId`` per caller, one job, ever.

The table ``idempotency_keys`` has the primary key (owner, request_id). The key row is
inserted in the same transaction as its job, so of two concurrent identical requests
exactly one commits; the other's INSERT fails, its job row is rolled back with it, and
it answers with the winner's job. A retry arriving later simply finds the row.

The answer to a replay is the original job as it is now (any state): the caller gets
the same ``jobId`` and can poll it; a job that already succeeded comes with its
outputs. Keys are per caller, so two users may use the same ``requestId`` without
seeing each other's jobs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.idempotency import IdempotencyKey
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.translate import translate_db_errors

MAX_REQUEST_ID_LENGTH = 255


def request_id_of(metadata: dict[str, Any]) -> str | None:
    """``metadata.requestId`` as text, or None when absent or empty."""
    value = metadata.get("requestId")
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON numbers arrive as doubles through protobuf Struct
    return str(value)[:MAX_REQUEST_ID_LENGTH]


async def original_job(session: AsyncSession, owner: str, request_id: str) -> Job | None:
    """The job this caller already created with ``request_id``, if any."""
    with translate_db_errors():
        return await session.scalar(
            select(Job)
            .join(IdempotencyKey, IdempotencyKey.job_id == Job.id)
            .where(IdempotencyKey.owner == owner, IdempotencyKey.request_id == request_id)
        )


def key_for(owner: str, request_id: str, job_id: str) -> IdempotencyKey:
    """The row to add beside a new job (same transaction)."""
    return IdempotencyKey(owner=owner, request_id=request_id, job_id=job_id)
