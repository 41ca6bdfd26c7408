"""Job events: what a job's progress stream carries, as plain data.

Workers publish them as a job moves; servers relay them to every subscriber of the
job (``WatchJob`` over gRPC, ``GET /jobs/{id}/events`` as server-sent events). The
JSON form (``to_json``/``from_json``) is what travels through Redis pub/sub.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Why an event was sent."""

    SNAPSHOT = "snapshot"
    """The job's state when a subscriber joined: always the first event of a stream."""
    STATUS = "status"
    """The job changed state (queued -> running, ...), or its queue position moved."""
    NODE = "node"
    """A ComfyUI node started executing."""
    PROGRESS = "progress"
    """A sampler step finished (step/maxSteps) and overall progress moved."""
    OUTPUT = "output"
    """An output file was stored."""
    PREVIEW = "preview"
    """A live preview frame (jobs with ``previews``): ``preview`` holds a small JPEG.
    Travels on the bus only, never stored."""
    TERMINAL = "terminal"
    """The job ended: succeeded (with outputs), failed or cancelled (with the error)."""


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream. ``progress`` is 0-100 and never goes down."""

    type: EventType
    job_id: str
    status: str
    progress: float = 0.0
    node: str = ""
    node_type: str = ""
    step: int = 0
    max_steps: int = 0
    queue_position: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    message: str = ""
    timestamp: float = field(default_factory=time.time)
    preview: dict[str, Any] | None = None
    """``{"contentType", "data" (base64), "width", "height"}`` on preview events."""
    eta_seconds: int = 0
    """Seconds until the job should finish (read from the database; 0 when unknown)."""

    @property
    def is_terminal(self) -> bool:
        return self.type is EventType.TERMINAL

    def with_progress_floor(self, floor: float) -> JobEvent:
        """This event with progress raised to ``floor`` (streams never go backwards)."""
        return self if self.progress >= floor else replace(self, progress=floor)

    def to_json(self) -> str:
        # A shallow dict: ``asdict`` deep-copies the outputs, error and preview only for
        # json to read them once (it was most of an event's encoding time).
        fields = {name: getattr(self, name) for name in _FIELD_NAMES}
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobEvent:
        data: dict[str, Any] = json.loads(raw)
        data["type"] = EventType(data["type"])
        return cls(**data)


_FIELD_NAMES = tuple(f.name for f in fields(JobEvent))
