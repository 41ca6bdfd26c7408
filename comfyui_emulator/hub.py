"""The WebSocket side of the server: sockets by client id, ordered sends, routing.

Like ComfyUI's ``PromptServer.send_sync``, every message goes through one queue drained by
one task, so frames leave in the order they were produced. ``sid=None`` broadcasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger("comfyui_emulator")

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
SERVER_FEATURES: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}


@dataclass
class _Outgoing:
    sid: str | None
    text: str | None = None
    data: bytes | None = None


class Hub:
    """Open sockets and the publisher task that writes to them.

    Usage: ``hub.start()``, ``hub.send("status", {...}, None)``, ``await hub.stop()``.
    """

    def __init__(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self._requests: dict[str, web.Request] = {}
        self.flags: dict[str, dict[str, Any]] = {}
        #: Client ids whose messages are swallowed (the ``ws_silence`` failure).
        self.muted: set[str] = set()
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._publish())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for ws in list(self.sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()

    def send(self, event: str, data: Any, sid: str | None) -> None:
        self._queue.put_nowait(_Outgoing(sid, text=json.dumps({"type": event, "data": data})))

    def send_bytes(self, event: int, payload: bytes, sid: str | None) -> None:
        self._queue.put_nowait(_Outgoing(sid, data=struct.pack(">I", event) + payload))

    def register(self, sid: str, ws: web.WebSocketResponse, request: web.Request) -> None:
        """A new socket replaces any older one under the same client id."""
        self.sockets[sid] = ws
        self._requests[sid] = request
        self.flags[sid] = {}

    def unregister(self, sid: str, ws: web.WebSocketResponse) -> None:
        # Only forget the socket if it is still the current one for this id: an old
        # socket closing late must not unhook the client's reconnected socket.
        if self.sockets.get(sid) is ws:
            del self.sockets[sid]
            self._requests.pop(sid, None)
            self.flags.pop(sid, None)

    def wants_metadata(self, sid: str | None) -> bool:
        return sid is not None and bool(self.flags.get(sid, {}).get("supports_preview_metadata"))

    async def flush(self) -> None:
        """Wait until everything queued so far has been written."""
        await self._queue.join()

    def drop(self, sid: str) -> None:
        """Cut a client's socket without a close frame (the ``ws_drop`` failure)."""
        self.sockets.pop(sid, None)
        request = self._requests.pop(sid, None)
        if request is not None and request.transport is not None:
            request.transport.abort()

    async def _publish(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._deliver(message)
            finally:
                self._queue.task_done()

    async def _deliver(self, message: _Outgoing) -> None:
        if message.sid is None:
            targets = list(self.sockets.items())
        elif message.sid in self.sockets:
            targets = [(message.sid, self.sockets[message.sid])]
        else:
            targets = []
        for sid, ws in targets:
            if sid in self.muted:
                continue
            try:
                if message.text is not None:
                    await ws.send_str(message.text)
                elif message.data is not None:
                    await ws.send_bytes(message.data)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("send to %s failed: %s", sid, exc)
