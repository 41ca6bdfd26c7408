"""Recorded webhook delivery attempts (SPEC: "deliveries are recorded")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import BigIntId, UTCDateTime, utcnow


class WebhookDelivery(Base):
    """One POST to a job's ``callback_url``; ``next_attempt_at`` is set while retries remain."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_webhook_deliveries_job_id_id", "job_id", "id"),
        Index("ix_webhook_deliveries_succeeded_next_attempt_at", "succeeded", "next_attempt_at"),
    )
