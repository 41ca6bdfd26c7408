"""One WebSocket per client, kept open and shared by every prompt the client follows.

ComfyUI routes a prompt's messages to the socket whose ``clientId`` equals the prompt's
``client_id``, so one socket serves all of this client's prompts; ``EventStream`` reads it
in a background task and hands each event to the subscription of its ``prompt_id``.
Messages without one (a reconnect's ``executing``, old-style binary previews) belong to
the prompt that is executing. When the socket drops, subscribers are told (so they poll
``/history``) and the stream reconnects with backoff, for as long as the client lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, replace

import aiohttp

from worker.comfyui.config import ClientConfig
from worker.comfyui.events import Event, ExecutionStarted, NodeStarted, PromptDone, QueueStatus
from worker.comfyui.messages import parse_binary, parse_text

log = logging.getLogger(__name__)
FEATURE_FLAGS = json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
MAX_RECONNECT_DELAY_S = 2.0


@dataclass(frozen=True)
class StreamState:
    """Told to every subscriber when the socket connects or drops."""

    connected: bool


Item = Event | StreamState


class EventStream:
    """The client's socket: ``subscribe(prompt_id)`` before submitting, read the queue.

    Usage: ``stream.start()``; ``queue = stream.subscribe(pid)``; ``await stream.close()``.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, config: ClientConfig) -> None:
        self._session = session
        self._url = url
        self._config = config
        self._subscribers: dict[str, asyncio.Queue[Item]] = {}
        self._executing: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        #: Set after the first connection attempt, successful or not.
        self.tried = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="comfyui-ws")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait (bounded) for the first connection attempt; False if the socket is not up.

        A refused first attempt returns at once: the caller then relies on polling while
        the stream keeps reconnecting in the background.
        """
        self.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.tried.wait(), timeout_s)
        return self.connected.is_set()

    def subscribe(self, prompt_id: str) -> asyncio.Queue[Item]:
        self.start()
        return self._subscribers.setdefault(prompt_id, asyncio.Queue())

    def notify(self, prompt_id: str, event: Event) -> None:
        """Hand a locally known event (a prompt we removed) to its follower, if any."""
        queue = self._subscribers.get(prompt_id)
        if queue is not None:
            queue.put_nowait(event)

    def unsubscribe(self, prompt_id: str) -> None:
        self._subscribers.pop(prompt_id, None)

    async def _run(self) -> None:
        delay = 0.1
        timeout = aiohttp.ClientWSTimeout(ws_close=self._config.connect_timeout_s)
        while True:
            try:
                async with self._session.ws_connect(
                    self._url,
                    heartbeat=self._config.ws_heartbeat_s,
                    timeout=timeout,
                    autoping=True,
                ) as ws:
                    await ws.send_str(FEATURE_FLAGS)
                    self.connected.set()
                    self.tried.set()
                    self._broadcast(StreamState(connected=True))
                    delay = 0.1
                    await self._read(ws)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("ComfyUI WebSocket %s: %s", self._url, exc)
            self.tried.set()
            if self.connected.is_set():
                self.connected.clear()
                self._broadcast(StreamState(connected=False))
            await asyncio.sleep(delay)
            delay = min(MAX_RECONNECT_DELAY_S, delay * 2)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                event = parse_text(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                event = parse_binary(message.data)
            else:
                break
            if event is not None:
                self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, QueueStatus):
            self._broadcast(event)
            return
        starts = isinstance(event, ExecutionStarted | NodeStarted)
        if starts and event.prompt_id:
            self._executing = event.prompt_id
        prompt_id = event.prompt_id or self._executing
        if isinstance(event, PromptDone) and event.prompt_id == self._executing:
            self._executing = None
        if prompt_id is None:
            return
        queue = self._subscribers.get(prompt_id)
        if queue is not None:
            queue.put_nowait(event if event.prompt_id else replace(event, prompt_id=prompt_id))

    def _broadcast(self, item: Item) -> None:
        for queue in self._subscribers.values():
            queue.put_nowait(item)
