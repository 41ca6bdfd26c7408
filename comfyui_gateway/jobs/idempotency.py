"""Idempotent job creation: one ``metadata.requestId`` per caller, one job, ever.

The table ``idempotency_keys`` has the primary key (owner, request_id). The key row is
inserted in the same transaction as its job, so of two concurrent identical requests
exactly one commits; the other's INSERT fails, its job row is rolled back with it, and
it answers with the winner's job. A retry arriving later simply finds the row.

The answer to a replay is the original job as it is now (any state): the caller gets
the same ``jobId`` and can poll it. Keys are per caller, so two users may use the same
``requestId`` without seeing each other's jobs.

A creation without ``requestId`` that came through the Envoy edge is keyed by the
edge's ``x-request-id`` instead (``implicit_request_id``): Envoy sends the same id on
every retry of one client request, so it may retry ``POST /jobs`` on another replica
after a reset without making a second job. The key also holds a digest of the
request, so a client that reuses one ``x-request-id`` for different requests still
gets different jobs; only a byte-identical resend is taken for a retry.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.idempotency import IdempotencyKey
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.translate import translate_db_errors

MAX_REQUEST_ID_LENGTH = 255
# Implicit keys live apart from the values callers choose for ``metadata.requestId``.
IMPLICIT_KEY_PREFIX = "edge:"


def request_id_of(metadata: dict[str, Any]) -> str | None:
    """``metadata.requestId`` as text, or None when absent or empty."""
    value = metadata.get("requestId")
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON numbers arrive as doubles through protobuf Struct
    return str(value)[:MAX_REQUEST_ID_LENGTH]


def implicit_request_id(transport_request_id: str, request_digest: str) -> str | None:
    """The key for a creation with no ``requestId``: ``x-request-id`` + request digest."""
    if not transport_request_id:
        return None
    key = f"{IMPLICIT_KEY_PREFIX}{request_digest[:32]}:{transport_request_id}"
    return key[:MAX_REQUEST_ID_LENGTH]


def request_digest(canonical_request: str) -> str:
    """SHA-256 of a request's canonical JSON text (see ``implicit_request_id``)."""
    return hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()


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
