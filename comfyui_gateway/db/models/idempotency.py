"""Idempotency keys: ``metadata.requestId`` per caller maps to exactly one job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import UTCDateTime, utcnow


class IdempotencyKey(Base):
    """The primary key (owner, request_id) is the uniqueness guarantee: the second INSERT
    of the same pair fails, and the loser returns the winner's job."""

    __tablename__ = "idempotency_keys"

    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
