"""One subscriber's bounded buffer, and the rule for what a slow subscriber loses.

A subscriber that reads slower than its job publishes (a client on a bad link, a
stalled gRPC stream) must never block the publisher or the other subscribers, and must
never make the process hold an unbounded backlog. So each subscriber owns an
``EventQueue`` of fixed capacity and ``put`` never waits: when the queue is full, the
oldest buffered event is dropped.

Why dropping the oldest is safe: every event carries the job's full current status and
overall progress, so a later ``progress``/``status``/``node`` event supersedes an
earlier one; an ``output`` event is repeated in the terminal event's outputs. The one
event that cannot be replaced is the TERMINAL one (it ends the stream and carries the
outcome), and it is never dropped: a queue accepts nothing after a terminal event (the
stream ends there), so a terminal event is always the newest entry and never the
oldest, and the capacity of non-terminal events is what gets trimmed. ``dropped``
counts the losses so a caller can tell a gap happened (and, say, re-read the database).
"""

from __future__ import annotations

import asyncio
from collections import deque

from comfyui_gateway.events import JobEvent

DEFAULT_QUEUE_SIZE = 128
"""Events buffered per subscriber; a sampler run of 20-50 steps fits with room to spare."""


CLOCK_SLACK_S = 0.001
"""A timer may fire this much before its deadline (the loop's clock is coarse): a wake-up
that close to the deadline is the deadline."""


class EventQueue:
    """A bounded FIFO of one subscriber's events; ``put`` never blocks, ``get`` waits.

    ``get`` returns ``None`` once the queue is closed and drained, so a reader ends after
    the events already buffered instead of losing them.

    A reader that waits with a deadline (a quiet stream's recheck) arms one timer per
    queue and keeps it while it fires no later than needed: a thousand watchers of one
    job each read after every event, and a timer made and cancelled per read (what
    ``asyncio.timeout`` does) was a third of the CPU of passing an event on.
    """

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"an event queue holds at least one event, not {maxsize}")
        self._maxsize = maxsize
        self._events: deque[JobEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sealed = False
        self._closed = False
        self.dropped = 0
        """Non-terminal events discarded because this subscriber fell behind."""

    def put(self, event: JobEvent) -> None:
        """Buffer ``event``, dropping the oldest buffered event when full. Never waits."""
        if self._closed or self._sealed:
            # Nothing follows a terminal event in a stream; a second one (a duplicate
            # publish) is ignored rather than allowed to grow the queue.
            return
        if len(self._events) >= self._maxsize:
            oldest = self._events.popleft()
            # Only the newest entry can be terminal (the queue seals after one).
            assert not oldest.is_terminal
            self.dropped += 1
        self._events.append(event)
        if event.is_terminal:
            self._sealed = True
        self._wake()

    async def get(self, deadline: float | None = None) -> JobEvent | None:
        """The next event, waiting for one; ``None`` when closed and nothing is left.

        With ``deadline`` (the running loop's ``time()``), raises ``TimeoutError`` if it
        passes while the queue is empty."""
        while not self._events:
            if self._closed:
                return None
            loop = asyncio.get_running_loop()
            if deadline is not None:
                if loop.time() + CLOCK_SLACK_S >= deadline:
                    raise TimeoutError
                self._arm(loop, deadline)
            waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._events.popleft()

    def take_buffered(self) -> list[JobEvent]:
        """Every event buffered right now, without waiting (possibly none)."""
        events = list(self._events)
        self._events.clear()
        return events

    def close(self) -> None:
        """Accept no more events; readers drain what is buffered, then get ``None``."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._events)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Make sure a timer wakes the reader by ``deadline``. One that fires earlier is
        kept (the reader, woken early, finds its deadline not reached and re-arms)."""
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()
