"""What the services need, built once by the composition root and passed in."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.config import Settings


@dataclass(frozen=True)
class WorkflowSummary:
    id: str
    name: str
    description: str


WorkflowLister = Callable[[], Awaitable[list[WorkflowSummary]]]


@dataclass
class ServerDeps:
    """The server's collaborators. Tests hand in real ones (SQLite/PostgreSQL, Redis)."""

    settings: Settings
    backend_reports: BackendReports
    list_workflow_summaries: WorkflowLister
    started_at: float = field(default_factory=time.monotonic)
