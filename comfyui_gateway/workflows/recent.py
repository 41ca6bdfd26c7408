"""Workflow rows read in the last moment, kept per process for job submissions.

Every ``POST /jobs`` needs its workflow's graph and schema; reading the row each time
was one database round trip per submission for data that only an admin changes. A
row is reused for ``ttl_s`` seconds after it was read. Changes made through this
process (``WorkflowAdmin`` given the same ``RecentWorkflows``) drop the entry at
once; a change made by another replica or the CLI is seen within ``ttl_s``.
A missing workflow is never remembered, so a new one is usable immediately.

Usage::

    recent = RecentWorkflows(ttl_s=1.0)
    workflow = await recent.get(session, "sdxl_realism_v1")   # WorkflowNotFound if absent
    recent.forget("sdxl_realism_v1")                          # after an update or delete
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.workflow import Workflow
from comfyui_gateway.db.queries.workflows import WorkflowRepository

DEFAULT_TTL_S = 1.0
MAX_ENTRIES = 1024
"""Bound on remembered workflows (a deployment has tens); the oldest go first."""


class RecentWorkflows:
    """A short-lived, per-process map of workflow id -> row (detached, read-only use)."""

    def __init__(
        self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._rows: dict[str, tuple[float, Workflow]] = {}

    async def get(self, session: AsyncSession, workflow_id: str) -> Workflow:
        """The workflow read at most ``ttl_s`` ago, else read now through ``session``."""
        now = self._clock()
        kept = self._rows.get(workflow_id)
        if kept is not None and now - kept[0] < self._ttl_s:
            return kept[1]
        workflow = await WorkflowRepository(session).get(workflow_id)
        if self._ttl_s > 0:
            # Detached at once: a later rollback of ``session`` (a submission that lost an
            # idempotency race) expires what it holds, and every submission reusing an
            # expired, detached row failed to read it (500) until the entry ran out.
            session.expunge(workflow)
            self._remember(workflow_id, now, workflow)
        return workflow

    def forget(self, workflow_id: str) -> None:
        """Drop the entry (the row was changed or deleted through this process)."""
        self._rows.pop(workflow_id, None)

    def _remember(self, workflow_id: str, now: float, workflow: Workflow) -> None:
        self._rows.pop(workflow_id, None)
        if len(self._rows) >= MAX_ENTRIES:
            del self._rows[next(iter(self._rows))]
        self._rows[workflow_id] = (now, workflow)
