"""The fanout bench's watcher reads events back from the raw bytes it noted, each at the
time its last byte arrived (the bench's delays are only as right as this)."""

from __future__ import annotations

import asyncio

import pytest

from bench.sse_watcher import ResponseError, SSEWatcher

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def watcher_fed(reads: list[bytes]) -> SSEWatcher:
    watcher = SSEWatcher("http://127.0.0.1:1/jobs/j/events", asyncio.Event())
    for read in reads:
        watcher.data_received(read)
    watcher._arrivals = [float(index) for index in range(len(reads))]
    return watcher


async def test_each_event_arrives_with_the_read_that_holds_its_last_byte() -> None:
    snapshot = chunk(b'data: {"type":"snapshot"}\n\n')
    progress = chunk(b'data: {"type":"progress","step":1}\n\n')
    terminal = chunk(b'data: {"type":"terminal"}\n\n')
    raw = HEAD + snapshot + progress + terminal + b"0\r\n\r\n"
    split_progress = len(HEAD) + len(snapshot) + 12  # inside the progress event
    reads = [raw[:split_progress], raw[split_progress:-20], raw[-20:]]
    events = list(watcher_fed(reads).events())
    assert [(at, event["type"]) for at, event in events] == [
        (0.0, "snapshot"),
        (1.0, "progress"),
        (2.0, "terminal"),
    ]
    assert events[1][1]["step"] == 1


async def test_an_event_split_over_two_chunks_is_one_event() -> None:
    body = b'data: {"type":"progress","step":2}\n\n'
    raw = HEAD + chunk(body[:10]) + chunk(body[10:]) + b"0\r\n\r\n"
    events = list(watcher_fed([raw]).events())
    assert [event for _, event in events] == [{"type": "progress", "step": 2}]


async def test_a_refused_stream_is_an_error_not_an_empty_stream() -> None:
    raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    with pytest.raises(ResponseError):
        list(watcher_fed([raw]).events())
