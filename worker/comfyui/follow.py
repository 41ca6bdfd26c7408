"""Following one prompt to its end: WebSocket events first, ``/history`` when they fail.

Completion: ComfyUI sends every output node's ``executed`` (cached ones too, from its
cache) to our socket before ``execution_success``, and its history entry lists the
same outputs (written after). So when the socket stayed up from before the prompt was
posted to its ``execution_success`` and showed outputs, those are the result and no
``/history`` round trip is made; after any gap (a drop, a reconnect, a silence poll)
or with no outputs seen, history decides, as before.

The loop waits for the next event of the prompt. When none comes for ``ws_silence_s``
(or at once, every ``poll_interval_s``, while the socket is down) it asks ``/history`` and
``/queue`` itself, so a dropped, silent or never-connected socket yields the same final
result, only later. A backend that stays unreachable for ``unreachable_grace_s`` fails the
run with ComfyUIUnreachable (a crash); a run past ``run_timeout_s`` with ComfyUITimeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from comfyui_gateway.errors import (
    ComfyUIError,
    ComfyUINodeError,
    ComfyUITimeout,
    ComfyUIUnreachable,
)
from worker.comfyui.config import ClientConfig
from worker.comfyui.errors import classify_execution_error
from worker.comfyui.events import (
    Event,
    ExecutionFailed,
    ExecutionSucceeded,
    Failed,
    Finished,
    Interrupted,
    NodeExecuted,
    NodeStarted,
    PromptDone,
    QueueStatus,
)
from worker.comfyui.history import HistoryRecord
from worker.comfyui.outputs import OutputRef
from worker.comfyui.progress import ProgressTracker
from worker.comfyui.system import QueueSnapshot
from worker.comfyui.websocket import EventStream, Item, StreamState

log = logging.getLogger(__name__)
#: Seconds to wait for the history entry after ``execution_success`` (it is written last).
HISTORY_SETTLE_S = 2.0


@dataclass
class Backend:
    """What the follower needs from the client (kept narrow so tests can fake it)."""

    history: Callable[[str], Awaitable[HistoryRecord | None]]
    queue: Callable[[], Awaitable[QueueSnapshot]]
    cancel: Callable[[str], Awaitable[object]]
    removed: set[str]


def terminal_from_history(record: HistoryRecord) -> Event:
    """The terminal event a finished history entry stands for."""
    if record.succeeded:
        return Finished(prompt_id=record.prompt_id, outputs=record.outputs)
    interrupted = record.last("execution_interrupted")
    if interrupted is not None:
        return Interrupted(
            prompt_id=record.prompt_id,
            node=interrupted.get("node_id"),
            node_type=interrupted.get("node_type"),
        )
    error = record.last("execution_error")
    if error is not None:
        return Failed(prompt_id=record.prompt_id, error=classify_execution_error(error))
    return Failed(
        prompt_id=record.prompt_id,
        error=ComfyUINodeError(
            f"ComfyUI reports prompt {record.prompt_id} as {record.status or 'failed'}",
            details={"promptId": record.prompt_id, "status": record.status},
        ),
    )


async def next_item(queue: asyncio.Queue[Item], timeout_s: float) -> Item | None:
    """The next queued item, or None after ``timeout_s`` without one. An item already
    waiting (ComfyUI sends a prompt's messages in bursts) is taken without arming a
    timer; otherwise ``timeout`` rather than ``wait_for``: no extra task per event."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        pass
    try:
        async with asyncio.timeout(timeout_s):
            return await queue.get()
    except TimeoutError:
        return None


class Follower:
    """One prompt's event loop; ``events()`` yields until (and including) a terminal event."""

    def __init__(
        self,
        prompt_id: str,
        backend: Backend,
        stream: EventStream,
        config: ClientConfig,
        graph: Mapping[str, Any] | None,
        timeout_s: float | None,
    ) -> None:
        self.prompt_id = prompt_id
        self._backend = backend
        self._stream = stream
        self._config = config
        self._tracker = ProgressTracker(graph)
        self._timeout_s = config.run_timeout_s if timeout_s is None else timeout_s
        self._seen_outputs: dict[str, tuple[OutputRef, ...]] = {}
        """Node → its outputs from ``executed``; a node reported again replaces its entry,
        as in history's ``outputs`` (a dict by node, in first-seen order)."""
        self._unreachable_since: float | None = None
        self._vanished = 0
        self._gap = False
        """True once the socket may have missed a message of this prompt."""

    async def events(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        queue = self._stream.subscribe(self.prompt_id)
        # Subscribed before the POST (``submit``): a queued StreamState means the socket
        # dropped or (re)connected since; not connected now means it is down.
        self._gap = not self._stream.connected.is_set()
        silent = False
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    yield await self._timed_out()
                    return
                healthy = self._stream.connected.is_set() and not silent
                wait = self._config.ws_silence_s if healthy else self._config.poll_interval_s
                item = await next_item(queue, min(wait, remaining))
                if isinstance(item, StreamState):
                    self._gap = True
                    silent = False
                    if item.connected:
                        continue
                    item = None  # dropped: check history at once
                if item is None:
                    self._gap = silent = True
                    terminal = await self._poll()
                    if terminal is not None:
                        yield self._stamp(terminal)
                        return
                    continue
                if isinstance(item, QueueStatus):
                    yield self._stamp(replace(item, prompt_id=self.prompt_id))
                    continue
                silent = False
                self._unreachable_since = None
                terminal = await self._on_event(item)
                if terminal is not None:
                    yield self._stamp(terminal)
                    return
                if not isinstance(item, PromptDone):
                    yield self._stamp(item)
        finally:
            self._stream.unsubscribe(self.prompt_id)

    async def _on_event(self, event: Event) -> Event | None:
        """The terminal event ``event`` leads to, if any."""
        if isinstance(event, NodeExecuted):
            self._seen_outputs[event.node] = event.outputs
        elif isinstance(event, ExecutionFailed):
            return Failed(prompt_id=self.prompt_id, error=classify_execution_error(event.payload))
        elif isinstance(event, Interrupted):
            return event
        elif isinstance(event, ExecutionSucceeded) and self._seen_any() and not self._gap:
            return Finished(prompt_id=self.prompt_id, outputs=self._seen())
        elif isinstance(event, ExecutionSucceeded | PromptDone):
            return await self._settle(isinstance(event, ExecutionSucceeded))
        return None

    def _seen(self) -> tuple[OutputRef, ...]:
        return tuple(ref for refs in self._seen_outputs.values() for ref in refs)

    def _seen_any(self) -> bool:
        return any(self._seen_outputs.values())

    async def _settle(self, succeeded: bool) -> Event | None:
        """After success (or ``executing: null``), read the outputs from history."""
        loop = asyncio.get_running_loop()
        until = loop.time() + HISTORY_SETTLE_S
        while True:
            try:
                record = await self._backend.history(self.prompt_id)
            except ComfyUIUnreachable:
                record = None
            if record is not None:
                return terminal_from_history(record)
            if loop.time() >= until:
                break
            await asyncio.sleep(0.05)
        if succeeded:  # history is gone (cleared?): what the socket showed is all we have
            return Finished(prompt_id=self.prompt_id, outputs=self._seen())
        return None

    async def _poll(self) -> Event | None:
        """Ask ComfyUI directly; a terminal event, or None to keep waiting."""
        loop = asyncio.get_running_loop()
        try:
            record = await self._backend.history(self.prompt_id)
            if record is not None:
                return terminal_from_history(record)
            snapshot = await self._backend.queue()
            if snapshot.is_running(self.prompt_id) or snapshot.is_pending(self.prompt_id):
                self._unreachable_since = None
                self._vanished = 0
                return None
            record = await self._backend.history(self.prompt_id)  # finished in between?
            if record is not None:
                return terminal_from_history(record)
        except ComfyUIUnreachable as exc:
            now = loop.time()
            self._unreachable_since = self._unreachable_since or now
            if now - self._unreachable_since >= self._config.unreachable_grace_s:
                return Failed(prompt_id=self.prompt_id, error=exc)
            return None
        self._unreachable_since = None
        if self.prompt_id in self._backend.removed:
            return Interrupted(prompt_id=self.prompt_id, removed=True)
        self._vanished += 1
        if self._vanished < 2:
            return None
        return Failed(
            prompt_id=self.prompt_id,
            error=ComfyUIUnreachable(
                f"Prompt {self.prompt_id} is neither queued nor in ComfyUI's history "
                "(ComfyUI restarted, or the prompt was deleted elsewhere)",
                details={"promptId": self.prompt_id, "reason": "prompt_lost"},
            ),
        )

    async def _timed_out(self) -> Event:
        if self._config.cancel_on_timeout:
            try:
                await self._backend.cancel(self.prompt_id)
            except ComfyUIError as exc:
                log.warning("could not cancel timed-out prompt %s: %s", self.prompt_id, exc)
        error = ComfyUITimeout(
            f"ComfyUI did not finish prompt {self.prompt_id} within {self._timeout_s:g} s",
            details={"promptId": self.prompt_id, "timeoutSeconds": self._timeout_s},
        )
        return Failed(prompt_id=self.prompt_id, error=error)

    def _stamp(self, event: Event) -> Event:
        """Fill in the progress estimate (and the node type of a NodeStarted)."""
        if isinstance(event, NodeStarted) and event.node_type is None:
            event = replace(event, node_type=self._tracker.node_type(event.node))
        return replace(event, progress=self._tracker.update(event))
