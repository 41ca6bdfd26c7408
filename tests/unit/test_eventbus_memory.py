"""The in-process event bus and the per-subscriber queue's drop policy."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyui_gateway.eventbus import EventBus, EventQueue, MemoryEventBus, Subscription
from comfyui_gateway.events import EventType, JobEvent


def progress(job_id: str, step: int) -> JobEvent:
    return JobEvent(EventType.PROGRESS, job_id, "running", progress=step, step=step)


def terminal(job_id: str) -> JobEvent:
    return JobEvent(EventType.TERMINAL, job_id, "succeeded", progress=100.0)


async def collect(events: Subscription) -> list[JobEvent]:
    return [event async for event in events]


async def test_events_arrive_in_publish_order_and_the_stream_ends_at_terminal() -> None:
    bus: EventBus = MemoryEventBus()
    async with bus.subscribe("job-1") as events:
        for step in range(50):
            await bus.publish(progress("job-1", step))
        await bus.publish(terminal("job-1"))
        await bus.publish(progress("job-1", 99))  # after the end: not part of the stream
        received = await collect(events)
    assert [event.step for event in received[:-1]] == list(range(50))
    assert received[-1].is_terminal
    await bus.close()


async def test_jobs_are_isolated() -> None:
    bus = MemoryEventBus()
    async with bus.subscribe("job-a") as a_events, bus.subscribe("job-b") as b_events:
        await bus.publish(progress("job-a", 1))
        await bus.publish(progress("job-b", 2))
        await bus.publish(progress("job-c", 3))  # nobody listens: dropped silently
        await bus.publish(terminal("job-b"))
        await bus.publish(terminal("job-a"))
        a_received, b_received = await collect(a_events), await collect(b_events)
    assert {event.job_id for event in a_received} == {"job-a"}
    assert [event.step for event in a_received] == [1, 0]
    assert {event.job_id for event in b_received} == {"job-b"}
    assert [event.step for event in b_received] == [2, 0]
    await bus.close()


async def test_a_thousand_subscribers_each_get_every_event() -> None:
    bus = MemoryEventBus()
    subscriptions = [bus.subscribe("job-1") for _ in range(1000)]
    for subscription in subscriptions:
        await subscription.__aenter__()
    assert bus.subscriber_count("job-1") == 1000
    readers = [asyncio.create_task(collect(s)) for s in subscriptions]
    for step in range(5):
        await bus.publish(progress("job-1", step))
    await bus.publish(terminal("job-1"))
    results = await asyncio.gather(*readers)
    assert all([e.step for e in got] == [0, 1, 2, 3, 4, 0] for got in results)
    for subscription in subscriptions:
        await subscription.__aexit__(None, None, None)
    assert bus.subscriber_count("job-1") == 0
    await bus.close()


async def test_registered_when_enter_returns_and_earlier_events_are_not_replayed() -> None:
    bus = MemoryEventBus()
    await bus.publish(progress("job-1", 1))  # before anyone subscribed
    async with bus.subscribe("job-1") as events:
        await bus.publish(terminal("job-1"))  # before iteration starts: still delivered
        assert [event.type for event in await collect(events)] == [EventType.TERMINAL]
    await bus.close()


async def test_leaving_unsubscribes() -> None:
    bus = MemoryEventBus()
    async with bus.subscribe("job-1"), bus.subscribe("job-1"):
        assert bus.subscriber_count("job-1") == 2
    assert bus.subscriber_count("job-1") == 0
    await bus.publish(progress("job-1", 1))  # no subscriber left: nothing to do
    await bus.close()


async def test_a_slow_subscriber_loses_old_progress_but_not_the_terminal_event() -> None:
    bus = MemoryEventBus(queue_size=4)
    async with bus.subscribe("job-1") as slow, bus.subscribe("job-1") as fast:
        for step in range(100):
            await bus.publish(progress("job-1", step))
            # The fast subscriber gets each event while the slow one reads nothing.
            assert (await anext(fast)).step == step
        await bus.publish(terminal("job-1"))
        assert (await anext(fast)).is_terminal
        slow_received = await collect(slow)
    assert fast.dropped == 0
    assert [event.step for event in slow_received[:-1]] == [97, 98, 99]
    assert slow_received[-1].is_terminal
    assert slow.dropped == 97
    await bus.close()


async def test_close_ends_iteration_and_refuses_new_work() -> None:
    bus = MemoryEventBus()
    async with bus.subscribe("job-1") as events:
        await bus.publish(progress("job-1", 1))
        reader = asyncio.create_task(collect(events))
        await asyncio.sleep(0)
        await bus.close()
        received = await asyncio.wait_for(reader, 5)
    assert [event.step for event in received] == [1]  # buffered events still arrive
    with pytest.raises(RuntimeError):
        await bus.publish(progress("job-1", 2))
    with pytest.raises(RuntimeError):
        async with bus.subscribe("job-1"):
            pass
    await bus.close()  # idempotent


async def test_a_subscription_must_be_entered_once_before_iterating() -> None:
    bus = MemoryEventBus()
    subscription = bus.subscribe("job-1")
    with pytest.raises(RuntimeError):
        await anext(subscription)
    async with subscription:
        with pytest.raises(RuntimeError):
            await subscription.__aenter__()
    await bus.close()


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryEventBus(queue_size=0)
    with pytest.raises(ValueError):
        EventQueue(0)


event_kinds = st.lists(st.sampled_from([EventType.PROGRESS, EventType.TERMINAL]), max_size=40)


@given(kinds=event_kinds, maxsize=st.integers(min_value=1, max_value=8))
def test_queue_keeps_order_bounds_memory_and_never_drops_terminal(
    kinds: list[EventType], maxsize: int
) -> None:
    async def scenario() -> None:
        queue = EventQueue(maxsize)
        published = [JobEvent(kind, "job-1", "running", step=i) for i, kind in enumerate(kinds)]
        for event in published:
            queue.put(event)
            assert len(queue) <= maxsize
        queue.close()
        received: list[JobEvent] = []
        while (item := await queue.get()) is not None:
            received.append(item)
        end = next((i for i, e in enumerate(published) if e.is_terminal), len(published) - 1)
        stream = published[: end + 1]
        steps = [event.step for event in received]
        assert steps == sorted(steps)  # order kept
        assert {event.step for event in received} <= {event.step for event in stream}
        if stream:
            # The newest event (so the terminal one, which ends a stream) always survives.
            assert received[-1] is stream[-1]
        assert queue.dropped == len(stream) - len(received)

    asyncio.run(scenario())
