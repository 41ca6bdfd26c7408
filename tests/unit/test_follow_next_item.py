"""The follow loop's wait for the next socket message: an item already waiting is taken
without arming a timer (ComfyUI sends a prompt's messages in bursts); otherwise it waits
up to the timeout, and None says none came."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from worker.comfyui import follow
from worker.comfyui.events import NodeStarted
from worker.comfyui.websocket import Item


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The timeouts the follow loop arms (asyncio's own ``timeout``, counted)."""
    armed: list[float] = []
    real = asyncio.timeout

    def counted(delay: float) -> AbstractAsyncContextManager[Any]:
        armed.append(delay)
        return real(delay)

    monkeypatch.setattr(asyncio, "timeout", counted)
    yield armed


def started(node: str) -> NodeStarted:
    return NodeStarted(prompt_id="p", node=node)


async def test_a_waiting_item_is_taken_without_a_timer(timers: list[float]) -> None:
    queue: asyncio.Queue[Item] = asyncio.Queue()
    queue.put_nowait(started("3"))
    queue.put_nowait(started("8"))
    assert await follow.next_item(queue, 30.0) == started("3")
    assert await follow.next_item(queue, 30.0) == started("8")
    assert timers == []


async def test_an_item_that_comes_later_is_waited_for(timers: list[float]) -> None:
    queue: asyncio.Queue[Item] = asyncio.Queue()
    asyncio.get_running_loop().call_soon(queue.put_nowait, started("9"))
    assert await follow.next_item(queue, 30.0) == started("9")
    assert timers == [30.0]


async def test_none_when_nothing_comes_in_time(timers: list[float]) -> None:
    queue: asyncio.Queue[Item] = asyncio.Queue()
    assert await follow.next_item(queue, 0.01) is None
    assert timers == [0.01]
