"""A running job's log lines and state writes, taken off the event path.

Following a prompt must not wait for the database: each ``Node ... started`` line or
progress value used to be one transaction in the follow loop. ``JobJournal`` queues
them; a background writer waits ``delay_s`` (so a burst becomes one write), then
commits everything queued so far in one transaction (lines in order, the latest state
values merged), one write at a time. The terminal transaction takes what is still
queued (``take``), so a short job's start lines, node lines and success commit as one.

A failed write is kept for the next one and re-raised by ``take``/``flush``: the job's
end then fails as it would have when the line was written inline.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobs import transitions

Line = tuple[str, str]
"""(level, message)."""

DEFAULT_DELAY_S = 0.1
"""How long queued lines may wait for company: short enough for a watcher reading the
logs, long enough that a short job writes them with its success."""


class JobJournal:
    """Ordered, coalescing writer for one attempt of one job (internal to the runner)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        job_id: str,
        attempt: int,
        *,
        delay_s: float = DEFAULT_DELAY_S,
    ) -> None:
        self._sessions = sessions
        self._job_id = job_id
        self._attempt = attempt
        self._delay_s = delay_s
        self._lines: list[Line] = []
        self._values: dict[str, Any] = {}
        self._writer: asyncio.Task[None] | None = None
        self._sleeping = False
        """The writer has not started writing yet (it may be dropped by ``_settle``)."""
        self._error: BaseException | None = None

    def log(self, level: str, message: str) -> None:
        self._lines.append((level, message))
        self._kick(self._delay_s)

    def logs(self, level: str, messages: list[str]) -> None:
        self._lines.extend((level, message) for message in messages)
        self._kick(self._delay_s)

    def record(self, **values: Any) -> None:
        """Running state to write (conditional on this attempt still running)."""
        self._values.update(values)
        self._kick(self._delay_s)

    async def take(self) -> tuple[list[Line], dict[str, Any]]:
        """What is still queued, for the caller's own transaction; raises a write's error.

        A write in flight is waited for (it holds earlier lines), a sleeping one dropped.
        """
        await self._settle()
        error, self._error = self._error, None
        if error is not None:
            raise error
        lines, values = self._lines, self._values
        self._lines, self._values = [], {}
        return lines, values

    def put_back(self, lines: list[Line], values: dict[str, Any]) -> None:
        """Return what ``take`` gave when the transaction meant to carry it did not commit."""
        self._lines[:0] = lines
        self._values = {**values, **self._values}
        self._kick(self._delay_s)

    async def flush(self) -> None:
        """Commit everything queued so far, now; raises a write's error."""
        await self._settle()
        if self._error is None and (self._lines or self._values):
            self._kick(0.0)
            await self._settle()
        error, self._error = self._error, None
        if error is not None:
            raise error

    async def close(self) -> None:
        """Write what is queued; a failure is dropped (the job's end already happened)."""
        with contextlib.suppress(Exception):
            await self.flush()

    def _kick(self, delay_s: float) -> None:
        if self._writer is None and self._error is None:
            self._sleeping = delay_s > 0
            self._writer = asyncio.create_task(self._drain(delay_s), name=f"journal-{self._job_id}")

    async def _settle(self) -> None:
        """No writer afterwards: a sleeping one is cancelled, a writing one awaited."""
        while self._writer is not None:
            task = self._writer
            if self._sleeping:
                self._writer = None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            else:
                await asyncio.shield(task)

    async def _drain(self, delay_s: float) -> None:
        me = asyncio.current_task()
        try:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            self._sleeping = False
            while self._lines or self._values:
                lines, values = self._lines, self._values
                self._lines, self._values = [], {}
                try:
                    await self._write(lines, values)
                except Exception as exc:
                    self._lines[:0] = lines  # kept, in order, for the next write
                    self._values = {**values, **self._values}
                    self._error = exc
                    return
        finally:
            if self._writer is me:
                self._writer = None

    async def _write(self, lines: list[Line], values: dict[str, Any]) -> None:
        if values:
            values = {"heartbeat_at": utcnow(), **values}
        async with self._sessions() as session:
            await transitions.record_running_batch(
                session, self._job_id, attempt=self._attempt, values=values, lines=lines
            )
