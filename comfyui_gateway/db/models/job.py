"""Jobs: one row per accepted generation request, the source of truth for its state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import EnumString, UTCDateTime, utcnow
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus


class Job(Base):
    """A generation job. Every state change is a conditional UPDATE on ``status``/``attempt``.

    ``workflow_id`` is deliberately not a foreign key: deleting a workflow must not delete
    or orphan-block the history of jobs that ran it.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(255))
    """Caller identity (API key id or JWT subject) that may read and cancel the job."""
    status: Mapped[JobStatus] = mapped_column(EnumString(JobStatus, 16), default=JobStatus.QUEUED)
    priority: Mapped[JobPriority] = mapped_column(
        EnumString(JobPriority, 8), default=JobPriority.NORMAL
    )

    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Resolved inputs (defaults applied, seed drawn); prompts redacted in privacy mode."""
    inputs_digest: Mapped[str] = mapped_column(String(64))
    prompt_graph: Mapped[str | None] = mapped_column(Text)
    """Rendered ComfyUI graph as JSON text, or an encrypted token in privacy mode."""
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    callback_url: Mapped[str | None] = mapped_column(Text)
    job_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(255))
    seed: Mapped[int | None] = mapped_column(BigInteger)

    cache_key: Mapped[str | None] = mapped_column(String(64))
    cached_from_job_id: Mapped[str | None] = mapped_column(String(36))

    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(32))

    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    backend_url: Mapped[str | None] = mapped_column(Text)
    comfy_prompt_id: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    traceparent: Mapped[str | None] = mapped_column(String(64))
    """W3C traceparent of the call that created the job: its worker continues that trace."""
    output_format: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """``{"format": "webp", "quality": 90}`` when stored outputs are converted, else None."""
    previews: Mapped[bool] = mapped_column(Boolean, default=False)
    """Publish live preview frames on the job's event stream."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # B-tree indexes scan both ways, so ascending (x, created_at) also serves the API's
    # "newest first" listings; descending index expressions would only add migration noise.
    __table_args__ = (
        Index("ix_jobs_owner_created_at", "owner", "created_at"),
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_workflow_id_created_at", "workflow_id", "created_at"),
        Index("ix_jobs_created_at", "created_at"),
        Index("ix_jobs_cache_key", "cache_key"),
        Index("ix_jobs_status_heartbeat_at", "status", "heartbeat_at"),
    )
