"""Following one job: its current state first, then live events until it ends.

Subscribe first, read the database second: an event published between the two is
never lost (it arrives after the snapshot, and the progress floor keeps the stream
monotonic). While the stream is quiet the database is re-read every
``recheck_s``, so a terminal event missed during a Redis outage still ends the stream.
When the server shuts down (``shutdown`` set) the stream ends with the job's current
state, flagged in ``message``, instead of being cut off.

While the job waits, the database is re-read every ``QUEUED_RECHECK_S`` and a
``status`` event is sent whenever its queue position or ETA changed (``reads`` built
with an ``EtaService`` gives both). The watchers of a waiting job recheck together, on
shared ticks (``JobStateReads.recheck_due_in``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.eventbus.subscription import Subscription
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs.state_reads import JobStateReads

DEFAULT_RECHECK_S = 5.0
QUEUED_RECHECK_S = 1.0
SHUTDOWN_MESSAGE = "Server shutting down: reconnect to keep following this job"


async def _stop_on(shutdown: asyncio.Event, events: Subscription) -> None:
    """End ``events``' iteration (after what it buffered) once the server shuts down."""
    await shutdown.wait()
    events.close()


async def watch_job(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    job_id: str,
    owner: str | None,
    *,
    recheck_s: float = DEFAULT_RECHECK_S,
    shutdown: asyncio.Event | None = None,
    reads: JobStateReads | None = None,
) -> AsyncIterator[JobEvent]:
    """Yield the job's events; the last one is always TERMINAL (or the job's end state).

    ``reads`` shares database reads between the watchers of a job (one per process);
    without it this watcher reads alone.

    Per event a watcher only wakes and reads its queue: no task or future is made per
    event (one job watched by a thousand streams wakes a thousand of them each time),
    the quiet-stream recheck is a deadline on the read (one timer per stream, kept while
    it is early enough, not one per read), and shutdown is one waiter per stream that
    closes the subscription.
    """
    reads = reads or JobStateReads(sessions)
    async with bus.subscribe(job_id) as events:
        subscribed = time.monotonic()
        current = await reads.read(job_id, owner, EventType.SNAPSHOT, not_before=subscribed)
        yield current
        floor = current.progress
        if current.is_terminal:
            return
        stopper = asyncio.create_task(_stop_on(shutdown, events)) if shutdown is not None else None
        try:
            live = _live(reads, events, job_id, owner, recheck_s, shutdown, _place(current))
            async for item in live:
                item = item.with_progress_floor(floor)
                floor = item.progress
                yield item
                if item.is_terminal:
                    return
        finally:
            if stopper is not None:
                stopper.cancel()


async def _live(
    reads: JobStateReads,
    events: Subscription,
    job_id: str,
    owner: str | None,
    recheck_s: float,
    shutdown: asyncio.Event | None,
    shown: tuple[int, int],
) -> AsyncIterator[JobEvent]:
    """Live events (conflated per batch) until a terminal one, the database's terminal
    state after a quiet spell, or the job's state when the bus closes or shuts down;
    while queued, a status event whenever the position or ETA (``shown``) changes."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            wait_s = (
                reads.recheck_due_in(min(recheck_s, QUEUED_RECHECK_S)) if shown[0] else recheck_s
            )
            event = await events.next_event(deadline=loop.time() + wait_s)
        except TimeoutError:
            event = await reads.read(
                job_id, owner, EventType.STATUS, not_before=time.monotonic(), recheck=True
            )
            if event.is_terminal:
                yield event
                return
            if event.queue_position and _place(event) != shown:
                shown = _place(event)
                yield event
            elif not event.queue_position:
                shown = (0, 0)
            continue
        except StopAsyncIteration:
            state = await reads.read(job_id, owner, EventType.STATUS, not_before=time.monotonic())
            if shutdown is not None and shutdown.is_set():
                state = replace(state, message=SHUTDOWN_MESSAGE)
            yield state
            return
        buffered = events.take_buffered()
        for item in conflate([event, *buffered]) if buffered else (event,):
            if item.status != "queued":
                shown = (0, 0)
            yield item
            if item.is_terminal:
                return


def _place(event: JobEvent) -> tuple[int, int]:
    """What a waiting job's watcher was last told: (queue position, ETA)."""
    return event.queue_position, event.eta_seconds


def conflate(events: list[JobEvent]) -> list[JobEvent]:
    """Drop the events of a batch that a later event of the same batch makes stale.

    A watcher that keeps up reads its events one at a time and gets every one; one that
    lags (a slow client, a thousand watchers on one job) finds several waiting, and
    should get the job's latest state at once rather than a backlog that delays the end
    of the stream. Every event carries the job's full status and overall progress, so:
    a progress step is stale once a later step of its node, a later node or the terminal
    event is waiting; a node event once a later node or the terminal is; a preview frame
    once a later frame or the terminal is; an output once a ``succeeded`` terminal event
    (which lists every stored output) is. Status changes and the terminal event are
    never dropped, and what is kept stays in order.
    """
    kept: list[JobEvent] = []
    later = _Later()
    for event in reversed(events):
        if not later.supersedes(event):
            kept.append(event)
        later.add(event)
    kept.reverse()
    return kept


class _Later:
    """What the events after the one being looked at (walking a batch backwards) say."""

    def __init__(self) -> None:
        self.terminal: JobEvent | None = None
        self.node = False
        self.preview = False
        self.stepped_nodes: set[str] = set()

    def add(self, event: JobEvent) -> None:
        if event.type is EventType.TERMINAL:
            self.terminal = event
        elif event.type is EventType.NODE:
            self.node = True
        elif event.type is EventType.PREVIEW:
            self.preview = True
        elif event.type is EventType.PROGRESS:
            self.stepped_nodes.add(event.node)

    def supersedes(self, event: JobEvent) -> bool:
        ended = self.terminal is not None
        if event.type is EventType.PROGRESS:
            return ended or self.node or event.node in self.stepped_nodes
        if event.type is EventType.NODE:
            return ended or self.node
        if event.type is EventType.PREVIEW:
            return ended or self.preview
        if event.type is EventType.OUTPUT:
            return self.terminal is not None and self.terminal.status == "succeeded"
        return False
