"""Media inputs: content-addressed files, the uploads that name them, the jobs using them.

One ``input_files`` row per distinct content (its sha256), however many uploads and jobs
use it; ``uploads`` give a file an owner and an id (``upload://<id>``); ``job_inputs``
records which job used which file for which field, so retention can delete files no
upload or job refers to any more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from comfyui_gateway.db.base import Base
from comfyui_gateway.db.types import BigIntId, UTCDateTime, utcnow


class InputFile(Base):
    """One stored input, keyed by the sha256 of its bytes (``_inputs/<sha256>.<ext>``)."""

    __tablename__ = "input_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(127))
    extension: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer, default=0)
    """Pixel width of an image (0 for other files)."""
    height: Mapped[int] = mapped_column(Integer, default=0)
    storage_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Upload(Base):
    """A file a caller uploaded ahead of a job; only its owner can use the id."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(ForeignKey("input_files.sha256"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_uploads_sha256", "sha256"),)


class JobInput(Base):
    """One media field of one job: the stored file and the name ComfyUI reads it by."""

    __tablename__ = "job_inputs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    """``image``, ``mask`` or ``file`` (the schema type)."""
    sha256: Mapped[str] = mapped_column(ForeignKey("input_files.sha256"))
    comfy_name: Mapped[str] = mapped_column(String(255))
    """The value rendered into the graph (``gateway/<sha256>.<ext>``)."""

    __table_args__ = (
        UniqueConstraint("job_id", "field"),
        Index("ix_job_inputs_sha256", "sha256"),
    )
