"""Result cache: a cache key points at the succeeded job whose outputs answer it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import UTCDateTime, utcnow


class CacheEntry(Base):
    """A live cache entry until ``expires_at`` (``CACHE_TTL_SECONDS`` after creation)."""

    __tablename__ = "cache_entries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_cache_entries_expires_at", "expires_at"),)
