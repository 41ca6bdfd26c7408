"""A subscriber's handle on one job's live events: an async context manager and iterator.

The server's watch flow needs "subscribe, then read the job's current state from the
database, then stream" with nothing lost in between, so a subscription is registered
with its bus by the time ``__aenter__`` returns, not when iteration starts. Leaving the
``async with`` block unregisters it (and, for Redis, may unsubscribe the channel).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from types import TracebackType

from comfyui_gateway.eventbus.queue import EventQueue
from comfyui_gateway.events import JobEvent


class _State(enum.Enum):
    NEW = "new"
    ACTIVE = "active"
    LEFT = "left"


class Subscription:
    """Live events of one job, in publish order, until the TERMINAL event or bus close.

    Usage::

        async with bus.subscribe(job_id) as events:
            current = await load_job(job_id)  # nothing published from here on is lost
            async for event in events:        # ends after the TERMINAL event
                ...

    Iteration stops after yielding a TERMINAL event, or when the bus is closed (events
    already buffered are still yielded first). ``dropped`` counts events this subscriber
    lost by falling behind (see ``eventbus.queue``). A subscription is entered once.
    Events are shared between subscribers: treat them (and their ``outputs``) as
    read-only.
    """

    def __init__(
        self,
        job_id: str,
        queue: EventQueue,
        attach: Callable[[EventQueue], Awaitable[None]],
        detach: Callable[[EventQueue], None],
    ) -> None:
        self._job_id = job_id
        self._queue = queue
        self._attach = attach
        self._detach = detach
        self._state = _State.NEW
        self._finished = False

    @property
    def job_id(self) -> str:
        return self._job_id

    @property
    def dropped(self) -> int:
        """Events this subscriber lost because its queue was full."""
        return self._queue.dropped

    async def __aenter__(self) -> Subscription:
        if self._state is not _State.NEW:
            raise RuntimeError("a Subscription can be entered only once")
        await self._attach(self._queue)
        self._state = _State.ACTIVE
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state is _State.ACTIVE:
            self._state = _State.LEFT
            self._detach(self._queue)
            self._queue.close()

    def close(self) -> None:
        """End iteration once the events already buffered are read (server shutdown);
        the subscription stays registered until its ``async with`` block is left."""
        self._queue.close()

    def __aiter__(self) -> Subscription:
        return self

    def take_buffered(self) -> list[JobEvent]:
        """Events already waiting, without waiting for more: lets a slow reader catch up
        in one go (and skip superseded progress) instead of one event at a time."""
        if self._state is _State.NEW or self._finished:
            return []
        events = self._queue.take_buffered()
        if any(event.is_terminal for event in events):
            self._finished = True
        return events

    async def __anext__(self) -> JobEvent:
        return await self.next_event()

    async def next_event(self, deadline: float | None = None) -> JobEvent:
        """The next event (``StopAsyncIteration`` at the end); with ``deadline`` (the
        running loop's ``time()``), ``TimeoutError`` if none comes before it."""
        if self._state is _State.NEW:
            raise RuntimeError("enter the subscription first: async with bus.subscribe(...)")
        if self._finished:
            raise StopAsyncIteration
        event = await self._queue.get(deadline)
        if event is None:
            self._finished = True
            raise StopAsyncIteration
        if event.is_terminal:
            self._finished = True
        return event
