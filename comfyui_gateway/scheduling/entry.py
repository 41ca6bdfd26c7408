"""A queue entry: the few facts about a waiting job the scheduler decides on.

The database row stays the job; an entry is rebuilt from it whenever the job goes
back to a queue (retry, reconciler), so losing entries loses nothing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.scheduling.models import job_models

log = logging.getLogger("comfyui_gateway.scheduling")


@dataclass(frozen=True)
class QueueEntry:
    """One waiting job: who asked, how urgent, which models it loads, since when."""

    job_id: str
    priority: JobPriority = JobPriority.NORMAL
    owner: str = ""
    models: tuple[str, ...] = ()
    queued_at: float = field(default_factory=time.time)
    """Wall-clock seconds (epoch): entries are compared across processes."""

    def to_json(self) -> str:
        record = {
            "p": self.priority.value,
            "o": self.owner,
            "m": list(self.models),
            "t": self.queued_at,
        }
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def from_json(cls, job_id: str, text: str | bytes | None) -> QueueEntry:
        """The entry stored for ``job_id``; a bare one (normal, no owner, no models, queued
        now) when its record is missing or unreadable, so the job still runs."""
        try:
            record: dict[str, Any] = json.loads(text) if text else {}
            return cls(
                job_id,
                JobPriority(record.get("p", JobPriority.NORMAL.value)),
                str(record.get("o", "")),
                tuple(str(name) for name in record.get("m", ())),
                float(record.get("t", time.time())),
            )
        except (ValueError, TypeError):
            return cls(job_id)


def entry_for_job(job: Job, privacy: Privacy | None = None) -> QueueEntry:
    """The entry for a job row, its models read from its (maybe sealed) graph."""
    queued_at = job.queued_at.timestamp() if job.queued_at is not None else time.time()
    return QueueEntry(job.id, job.priority, job.owner, _models_of(job, privacy), queued_at)


def entry_for_graph(job: Job, graph: dict[str, Any]) -> QueueEntry:
    """The entry for a job just accepted, its models read from the rendered graph."""
    queued_at = job.queued_at.timestamp() if job.queued_at is not None else time.time()
    return QueueEntry(job.id, job.priority, job.owner, job_models(graph), queued_at)


def _models_of(job: Job, privacy: Privacy | None) -> tuple[str, ...]:
    try:
        text = (privacy or Privacy(enabled=False)).open_graph(job.prompt_graph or "{}")
        graph = json.loads(text)
    except Exception:  # an unreadable graph fails in the runner, with its error code
        log.warning("cannot read the models of job %s", job.id)
        return ()
    return job_models(graph) if isinstance(graph, dict) else ()
