"""A quiet stream's read ends at its deadline, never before it, and never after it, with
one timer per queue kept while it fires early enough."""

from __future__ import annotations

import asyncio

import pytest

from comfyui_gateway.eventbus.queue import CLOCK_SLACK_S, EventQueue
from comfyui_gateway.events import EventType, JobEvent

SHORT_S = 0.05


def progress(step: int) -> JobEvent:
    return JobEvent(type=EventType.PROGRESS, job_id="j", status="running", step=step, timestamp=1.0)


async def test_a_read_with_nothing_to_read_ends_at_its_deadline() -> None:
    loop = asyncio.get_running_loop()
    queue = EventQueue()
    deadline = loop.time() + SHORT_S
    with pytest.raises(TimeoutError):
        await queue.get(deadline)
    assert loop.time() + CLOCK_SLACK_S >= deadline


async def test_an_event_before_the_deadline_is_the_answer() -> None:
    loop = asyncio.get_running_loop()
    queue = EventQueue()
    loop.call_soon(queue.put, progress(1))
    assert await queue.get(loop.time() + 30) == progress(1)


async def test_a_timer_left_from_an_earlier_read_does_not_end_a_later_one_early() -> None:
    loop = asyncio.get_running_loop()
    queue = EventQueue()
    queue.put(progress(1))
    loop.call_soon(queue.put, progress(2))
    assert await queue.get(loop.time() + SHORT_S) == progress(1)
    assert await queue.get(loop.time() + SHORT_S) == progress(2)  # armed the timer
    deadline = loop.time() + 4 * SHORT_S
    with pytest.raises(TimeoutError):
        await queue.get(deadline)  # the first timer fires on the way, and is re-armed
    assert loop.time() + CLOCK_SLACK_S >= deadline


async def test_a_nearer_deadline_than_the_armed_timer_is_kept() -> None:
    loop = asyncio.get_running_loop()
    queue = EventQueue()
    loop.call_soon(queue.put, progress(1))
    assert await queue.get(loop.time() + 3600) == progress(1)  # a timer an hour out
    async with asyncio.timeout(10):  # would hang for the hour without the re-arm
        with pytest.raises(TimeoutError):
            await queue.get(loop.time() + SHORT_S)


async def test_closing_wakes_a_waiting_reader_and_drops_its_timer() -> None:
    loop = asyncio.get_running_loop()
    queue = EventQueue()
    loop.call_soon(queue.close)
    assert await queue.get(loop.time() + 3600) is None
    assert queue._timer is None  # nothing keeps a closed queue's reader scheduled
