"""Audit rows for refused requests (bad credentials, missing role), bounded under attack.

A failure is recorded per *source* (the client address, or the subject for a
forbidden call) and *action*. The first failure of a source in a window writes one
row at once; further failures in the same window are only counted, and the count
is written as one row (``details.count``) when that source fails again after the
window, when any other row is written after its window ended, or at ``flush`` on
shutdown. So an attack costs at most one row per source per window, and at most
``max_sources`` sources are tracked: past that, new sources share one ``*`` entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.queries.audit import OUTCOME_DENIED, AuditLog

log = logging.getLogger("comfyui_gateway.audit")

AUTH_FAILURE = "auth.failure"
FORBIDDEN = "auth.forbidden"
OVERFLOW_SOURCE = "*"


@dataclass
class _Window:
    started: float
    suppressed: int
    target: str
    reason: str


class FailureAudit:
    """Writes ``auth.failure`` / ``auth.forbidden`` rows; see the module docstring::

    audit = FailureAudit(sessions)
    await audit.record("ip:203.0.113.9", AUTH_FAILURE, "/comfyui_gateway.v1.JobService/GetJob",
                       "Invalid API key")
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        window_s: float = 60.0,
        max_sources: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._window_s = window_s
        self._max_sources = max_sources
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    async def record(self, source: str, action: str, target: str, reason: str) -> None:
        now = self._clock()
        key = (source, action)
        if key not in self._windows and len(self._windows) >= self._max_sources:
            await self._write_expired(now)
            if len(self._windows) >= self._max_sources:
                key = (OVERFLOW_SOURCE, action)
        window = self._windows.get(key)
        if window is not None and now - window.started < self._window_s:
            window.suppressed += 1
            return
        count = 1 + (window.suppressed if window is not None else 0)
        self._windows[key] = _Window(now, 0, target, reason)
        rows = [(key, count, target, reason)]
        rows.extend(self._take_expired(now))
        await self._write(rows)

    async def flush(self) -> None:
        """Write every pending count (at shutdown)."""
        rows = [
            (key, w.suppressed, w.target, w.reason)
            for key, w in self._windows.items()
            if w.suppressed
        ]
        self._windows.clear()
        await self._write(rows)

    def _take_expired(self, now: float) -> list[tuple[tuple[str, str], int, str, str]]:
        expired = [k for k, w in self._windows.items() if now - w.started >= self._window_s]
        rows = []
        for key in expired:
            window = self._windows.pop(key)
            if window.suppressed:
                rows.append((key, window.suppressed, window.target, window.reason))
        return rows

    async def _write_expired(self, now: float) -> None:
        await self._write(self._take_expired(now))

    async def _write(self, rows: list[tuple[tuple[str, str], int, str, str]]) -> None:
        if not rows:
            return
        try:
            async with self._sessions() as session, session.begin():
                for (source, action), count, target, reason in rows:
                    details = {"reason": reason, "count": count}
                    await AuditLog.record(session, source, action, target, OUTCOME_DENIED, details)
        except Exception:  # an audit outage must not turn a 401 into a 500
            log.exception("could not write %d audit row(s)", len(rows))
