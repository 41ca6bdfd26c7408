"""Sanitized per-job log lines shown by ``GET /jobs/{id}/logs``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import BigIntId, UTCDateTime, utcnow


class JobLog(Base):
    """One log line; ordered by ``id`` (insertion order), not by clock."""

    __tablename__ = "job_logs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_job_logs_job_id_id", "job_id", "id"),)
