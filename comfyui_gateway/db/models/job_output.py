"""Files a job produced, as stored by the gateway (local disk or S3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import BigIntId, UTCDateTime, utcnow


class JobOutput(Base):
    """One stored output: ComfyUI's ``filename`` and the gateway's own ``stored_name``.

    ``stored_name`` (``<uuid>.<ext>``) is what URLs and storage use, so nothing ComfyUI
    names a file can escape the job's folder.
    """

    __tablename__ = "job_outputs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(255))
    storage_path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(127))
    node_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), default="image")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("job_id", "stored_name"),)
