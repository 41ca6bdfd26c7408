"""A watcher of one SSE stream that only notes when bytes arrive, and reads them after.

The fanout bench runs a thousand watchers on the two cores the gateway uses. Through an
HTTP client library each event cost the watchers about as much CPU as the server spent
sending it (aiohttp: parser, chunk decoding, a stream reader and a task wake-up per
event), so the bench measured its own clients as much as the gateway. This watcher is
an ``asyncio.Protocol``: per arrival it appends the time and the bytes, nothing else;
the response is parsed (status line, chunked body, SSE events) once it has ended.
Watchers on other machines cost the gateway nothing, and that is what the bench means
to measure. An event's arrival is that of the read holding its last byte.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit


class ResponseError(Exception):
    """The stream's response was not a 200 with a chunked body of SSE events."""


class SSEWatcher(asyncio.Protocol):
    """One ``GET`` of an SSE URL on its own connection (``Connection: close``, so the
    end of the response is the end of the connection)."""

    def __init__(self, url: str, first_bytes: asyncio.Event) -> None:
        parts = urlsplit(url)
        self._request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Accept: text/event-stream\r\nConnection: close\r\n\r\n"
        ).encode()
        self._first_bytes = first_bytes
        self._reads: list[bytes] = []
        self._arrivals: list[float] = []
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._arrivals.append(time.time())
        self._reads.append(data)
        self._first_bytes.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._first_bytes.set()
        if not self.ended.done():
            self.ended.set_result(None)

    def events(self) -> Iterator[tuple[float, dict[str, Any]]]:
        """Each event of the ended response, with the time its last byte arrived."""
        raw = b"".join(self._reads)
        ends: list[int] = []
        total = 0
        for read in self._reads:
            total += len(read)
            ends.append(total)
        read_index = 0
        for raw_end, line in _sse_lines(raw):
            while ends[read_index] < raw_end:
                read_index += 1
            if line.startswith(b"data: "):
                yield self._arrivals[read_index], json.loads(line[6:])


async def watch(url: str, first_bytes: asyncio.Event) -> SSEWatcher:
    """Open ``url``'s stream; the returned watcher's ``ended`` resolves when it closes."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    _, watcher = await loop.create_connection(lambda: SSEWatcher(url, first_bytes), host, port)
    return watcher


def _sse_lines(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """The SSE blocks of a chunked 200 response, each with the raw offset of its end."""
    head_end = raw.find(b"\r\n\r\n")
    head = raw[:head_end].lower()
    if not head.startswith((b"http/1.1 200", b"http/1.0 200")) or b"chunked" not in head:
        raise ResponseError(raw[:200].decode(errors="replace"))
    body, offsets = _dechunk(raw, head_end + 4)
    start = 0
    while (end := body.find(b"\n\n", start)) != -1:
        yield offsets(end + 2), body[start:end]
        start = end + 2


def _dechunk(raw: bytes, position: int) -> tuple[bytes, Any]:
    """The body of a chunked transfer from ``position``, and a map from a body offset to
    the raw offset where that much of the body had arrived."""
    pieces: list[bytes] = []
    spans: list[tuple[int, int]] = []  # (body end, raw end) of each chunk
    body_length = 0
    while True:
        line_end = raw.index(b"\r\n", position)
        size = int(raw[position:line_end].split(b";")[0], 16)
        if size == 0:
            break
        data_start = line_end + 2
        pieces.append(raw[data_start : data_start + size])
        body_length += size
        spans.append((body_length, data_start + size))
        position = data_start + size + 2

    def raw_offset(body_offset: int) -> int:
        for body_end, raw_end in spans:
            if body_end >= body_offset:
                return raw_end - (body_end - body_offset)
        return spans[-1][1]

    return b"".join(pieces), raw_offset
