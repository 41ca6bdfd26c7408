"""Following one job: its current state first, then live events until it ends.

Subscribe first, read the database second: an event published between the two is
never lost (it arrives after the snapshot, and the progress floor keeps the stream
monotonic). While the stream is quiet the database is re-read every
``recheck_s``, so a terminal event missed during a Redis outage still ends the stream.
When the server shuts down (``shutdown`` set) the stream ends with the job's current
state, flagged in ``message``, instead of being cut off.

While the job waits, the database is re-read every ``QUEUED_RECHECK_S`` and a
``status`` event is sent whenever its queue position or ETA (``etas``) changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.eta.service import EtaService
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs import store
from comfyui_gateway.jobs.views import state_event

DEFAULT_RECHECK_S = 5.0
QUEUED_RECHECK_S = 1.0
SHUTDOWN_MESSAGE = "Server shutting down: reconnect to keep following this job"


class _Quiet:
    """No event within ``recheck_s``."""


class _Stopping:
    """The server is shutting down."""


async def _next_event(
    iterator: AsyncIterator[JobEvent], shutdown: asyncio.Event | None, timeout_s: float
) -> JobEvent | _Quiet | _Stopping:
    """The next event, or why there is none; StopAsyncIteration when the bus closed."""
    getter = asyncio.ensure_future(anext(iterator))
    waiters: set[asyncio.Future[Any]] = {getter}
    stopper = asyncio.ensure_future(shutdown.wait()) if shutdown is not None else None
    if stopper is not None:
        waiters.add(stopper)
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()
    if getter in done:
        return getter.result()
    return _Stopping() if stopper is not None and stopper in done else _Quiet()


async def watch_job(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    job_id: str,
    owner: str | None,
    *,
    recheck_s: float = DEFAULT_RECHECK_S,
    shutdown: asyncio.Event | None = None,
    etas: EtaService | None = None,
) -> AsyncIterator[JobEvent]:
    """Yield the job's events; the last one is always TERMINAL (or the job's end state)."""
    async with bus.subscribe(job_id) as events:
        current = await _read(sessions, job_id, owner, EventType.SNAPSHOT, etas)
        yield current
        floor = current.progress
        if current.is_terminal:
            return
        iterator = aiter(events)
        shown = _place(current)
        while True:
            wait_s = min(recheck_s, QUEUED_RECHECK_S) if shown[0] else recheck_s
            try:
                outcome = await _next_event(iterator, shutdown, wait_s)
            except StopAsyncIteration:
                outcome = None
            if isinstance(outcome, _Stopping):
                state = await _read(sessions, job_id, owner, EventType.STATUS, etas)
                yield replace(state.with_progress_floor(floor), message=SHUTDOWN_MESSAGE)
                return
            if isinstance(outcome, _Quiet):
                event = await _read(sessions, job_id, owner, EventType.STATUS, etas)
                if not event.is_terminal:
                    if event.queue_position and _place(event) != shown:
                        shown = _place(event)
                        yield event.with_progress_floor(floor)
                    elif not event.queue_position:
                        shown = (0, 0)
                    continue
            elif isinstance(outcome, JobEvent):
                event = outcome
            else:
                event = await _read(sessions, job_id, owner, EventType.STATUS)
                yield event.with_progress_floor(floor)
                return
            for item in conflate([event, *events.take_buffered()]):
                item = item.with_progress_floor(floor)
                floor = item.progress
                if item.status != "queued":
                    shown = (0, 0)
                yield item
                if item.is_terminal:
                    return


def conflate(events: list[JobEvent]) -> list[JobEvent]:
    """Drop progress steps superseded by a later step of the same node in the same batch,
    and every preview frame but the batch's last.

    A watcher that keeps up gets every event; one that lags (a slow client, thousands of
    watchers) gets the latest step and the latest frame instead of a backlog of stale ones.
    """
    last_preview = max(
        (i for i, event in enumerate(events) if event.type is EventType.PREVIEW), default=-1
    )
    kept: list[JobEvent] = []
    for index, event in enumerate(events):
        if event.type is EventType.PREVIEW and index != last_preview:
            continue
        # A step supersedes the latest kept step of its node even across the kept frame.
        last = len(kept) - 1
        if (
            last >= 0
            and kept[last].type is EventType.PREVIEW
            and event.type is not EventType.PREVIEW
        ):
            last -= 1
        if last >= 0 and _supersedes(event, kept[last]):
            kept[last] = event
        else:
            kept.append(event)
    return kept


def _supersedes(newer: JobEvent, older: JobEvent) -> bool:
    return (
        newer.type is EventType.PROGRESS
        and older.type is EventType.PROGRESS
        and newer.node == older.node
    )


def _place(event: JobEvent) -> tuple[int, int]:
    """What a waiting job's watcher was last told: (queue position, ETA)."""
    return event.queue_position, event.eta_seconds


async def _read(
    sessions: async_sessionmaker[AsyncSession],
    job_id: str,
    owner: str | None,
    kind: EventType,
    etas: EtaService | None = None,
) -> JobEvent:
    async with sessions() as session:
        job = await store.get_job(session, job_id, owner)
        return await state_event(session, job, kind, etas)
