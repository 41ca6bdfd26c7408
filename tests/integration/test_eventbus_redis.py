"""The Redis event bus on a real Redis: fan-out, one subscription per process, outages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from comfyui_gateway.eventbus import EventBus, EventBusUnavailable, RedisEventBus, Subscription
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.names import job_events_channel
from tests.redis_fixtures import (  # noqa: F401
    REDIS_URL,
    RedisProcess,
    fail_fast_client,
    namespace,
    numsub,
    redis_client,
    redis_process,
    wait_until,
)

BusFactory = Callable[..., RedisEventBus]


def progress(job_id: str, step: int) -> JobEvent:
    return JobEvent(EventType.PROGRESS, job_id, "running", progress=step, step=step)


def terminal(job_id: str) -> JobEvent:
    return JobEvent(EventType.TERMINAL, job_id, "succeeded", progress=100.0)


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex}"


async def collect(events: Subscription, timeout_s: float = 5.0) -> list[JobEvent]:
    async def read_all() -> list[JobEvent]:
        return [event async for event in events]

    return await asyncio.wait_for(read_all(), timeout_s)


@pytest.fixture
async def make_bus(namespace: str) -> AsyncIterator[BusFactory]:  # noqa: F811
    """Buses on their own Redis clients (each one a 'server process'), closed after."""
    made: list[tuple[RedisEventBus, Redis]] = []

    def make(**options: object) -> RedisEventBus:
        client = Redis.from_url(REDIS_URL)
        bus = RedisEventBus(client, namespace=namespace, **options)  # type: ignore[arg-type]
        made.append((bus, client))
        return bus

    yield make
    for bus, client in made:
        await bus.close()
        await client.aclose()


async def test_events_arrive_in_order_intact_and_the_stream_ends_at_terminal(
    make_bus: BusFactory,
) -> None:
    bus: EventBus = make_bus()
    job_id = new_job_id()
    published = [progress(job_id, step) for step in range(100)]
    published.append(
        JobEvent(
            EventType.TERMINAL,
            job_id,
            "succeeded",
            progress=100.0,
            outputs=[{"filename": "a.png", "sha256": "00ff", "size": 3}],
            message="done",
        )
    )
    async with bus.subscribe(job_id) as events:
        for event in published:
            await bus.publish(event)
        await bus.publish(progress(job_id, 101))  # after the end: not part of the stream
        received = await collect(events)
    assert received == published


async def test_publish_many_is_one_ordered_batch_across_jobs(make_bus: BusFactory) -> None:
    bus: EventBus = make_bus()
    first, second = new_job_id(), new_job_id()
    batch = [progress(first, 1), progress(second, 1), progress(first, 2), terminal(first)]
    last = terminal(second)
    async with bus.subscribe(first) as events, bus.subscribe(second) as others:
        await bus.publish_many(batch)
        await bus.publish(last)
        assert await collect(events) == [batch[0], batch[2], batch[3]]
        assert await collect(others) == [batch[1], last]


@pytest.mark.parametrize(
    "client_options", [{"protocol": 3}, {"decode_responses": True}], ids=["resp3", "decoded"]
)
async def test_other_client_settings_work_too(
    client_options: dict[str, object],
    namespace: str,  # noqa: F811
) -> None:
    client = Redis.from_url(REDIS_URL, **client_options)  # type: ignore[arg-type]
    bus = RedisEventBus(client, namespace=namespace, keepalive_s=0.1)
    job_id = new_job_id()
    try:
        async with bus.subscribe(job_id) as events:
            await asyncio.sleep(0.25)  # a keepalive PING and its reply
            await bus.publish(progress(job_id, 1))
            await bus.publish(terminal(job_id))
            assert [event.step for event in await collect(events)] == [1, 0]
        assert bus.reconnects == 0
    finally:
        await bus.close()
        await client.aclose()


async def test_jobs_are_isolated(make_bus: BusFactory) -> None:
    bus = make_bus()
    job_a, job_b = new_job_id(), new_job_id()
    async with bus.subscribe(job_a) as a_events, bus.subscribe(job_b) as b_events:
        await bus.publish(progress(job_a, 1))
        await bus.publish(progress(job_b, 2))
        await bus.publish(terminal(job_b))
        await bus.publish(terminal(job_a))
        a_received, b_received = await collect(a_events), await collect(b_events)
    assert [(e.job_id, e.step) for e in a_received] == [(job_a, 1), (job_a, 0)]
    assert [(e.job_id, e.step) for e in b_received] == [(job_b, 2), (job_b, 0)]


async def test_a_thousand_local_subscribers_cost_one_redis_subscription(
    make_bus: BusFactory,
    redis_client: Redis,  # noqa: F811
    namespace: str,  # noqa: F811
) -> None:
    bus = make_bus()
    job_id = new_job_id()
    channel = job_events_channel(job_id, namespace)
    subscriptions = [bus.subscribe(job_id) for _ in range(1000)]
    await asyncio.gather(*(subscription.__aenter__() for subscription in subscriptions))
    assert await numsub(redis_client, channel) == 1
    assert bus.subscriber_count(job_id) == 1000
    readers = [asyncio.create_task(collect(subscription)) for subscription in subscriptions]
    await bus.publish(progress(job_id, 1))
    await bus.publish(terminal(job_id))
    results = await asyncio.gather(*readers)
    assert all(
        [event.type for event in got] == [EventType.PROGRESS, EventType.TERMINAL] for got in results
    )
    for subscription in subscriptions[:-1]:
        await subscription.__aexit__(None, None, None)
    assert await numsub(redis_client, channel) == 1  # one local subscriber is left
    await subscriptions[-1].__aexit__(None, None, None)

    async def unsubscribed() -> bool:
        return await numsub(redis_client, channel) == 0

    await wait_until(unsubscribed, what="NUMSUB back to 0")


async def test_nothing_published_after_enter_is_lost(
    make_bus: BusFactory,
    redis_client: Redis,  # noqa: F811
    namespace: str,  # noqa: F811
) -> None:
    bus = make_bus()
    for _ in range(50):
        job_id = new_job_id()
        async with bus.subscribe(job_id) as events:
            # Published through another connection right away: Redis must already
            # count this process as a subscriber.
            await redis_client.publish(
                job_events_channel(job_id, namespace), terminal(job_id).to_json()
            )
            assert [event.type for event in await collect(events)] == [EventType.TERMINAL]


async def test_resubscribing_while_the_unsubscribe_is_in_flight_loses_nothing(
    make_bus: BusFactory,
    redis_client: Redis,  # noqa: F811
    namespace: str,  # noqa: F811
) -> None:
    bus = make_bus()
    job_id = new_job_id()
    channel = job_events_channel(job_id, namespace)
    for round_ in range(30):
        async with bus.subscribe(job_id):
            pass  # the last subscriber leaves: UNSUBSCRIBE is queued
        async with bus.subscribe(job_id) as events:  # and a new one comes at once
            await redis_client.publish(channel, progress(job_id, round_).to_json())
            assert (await asyncio.wait_for(anext(events), 5)).step == round_


async def test_two_processes_both_receive(make_bus: BusFactory) -> None:
    server_one, server_two, worker = make_bus(), make_bus(), make_bus()
    job_id = new_job_id()
    async with server_one.subscribe(job_id) as one, server_two.subscribe(job_id) as two:
        await worker.publish(progress(job_id, 7))
        await worker.publish(terminal(job_id))
        got_one, got_two = await asyncio.gather(collect(one), collect(two))
    assert [e.step for e in got_one] == [e.step for e in got_two] == [7, 0]


async def test_a_slow_subscriber_stalls_nobody_and_still_gets_the_terminal_event(
    make_bus: BusFactory,
) -> None:
    bus = make_bus(queue_size=8)
    job_id = new_job_id()
    async with bus.subscribe(job_id) as slow, bus.subscribe(job_id) as fast:
        for step in range(300):
            await bus.publish(progress(job_id, step))
            # The fast subscriber gets each event while the slow one reads nothing.
            assert (await asyncio.wait_for(anext(fast), 5)).step == step
        await bus.publish(terminal(job_id))
        assert (await asyncio.wait_for(anext(fast), 5)).is_terminal
        slow_received = await collect(slow)
    assert fast.dropped == 0
    assert [event.step for event in slow_received[:-1]] == list(range(293, 300))
    assert slow_received[-1].is_terminal
    assert slow.dropped == 293


async def test_reconnects_after_the_connection_is_killed(
    make_bus: BusFactory,
    redis_client: Redis,  # noqa: F811
    namespace: str,  # noqa: F811
) -> None:
    client_name = f"eventbus-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(REDIS_URL, client_name=client_name)
    bus = RedisEventBus(client, namespace=namespace, reconnect_min_s=0.05)
    job_id = new_job_id()
    channel = job_events_channel(job_id, namespace)
    try:
        async with bus.subscribe(job_id) as events:
            await bus.publish(progress(job_id, 1))
            assert (await asyncio.wait_for(anext(events), 5)).step == 1
            clients = await redis_client.client_list()
            ours = [c for c in clients if c["name"] == client_name and c["sub"] != "0"]
            assert len(ours) == 1  # the one pub/sub connection (PUBLISH uses another)
            # CLIENT KILL TYPE pubsub, narrowed to our connection: the Redis is shared.
            assert await redis_client.client_kill_filter(_id=ours[0]["id"], _type="pubsub") == 1

            async def resubscribed() -> bool:
                return bus.reconnects == 1 and await numsub(redis_client, channel) == 1

            await wait_until(resubscribed, what="the bus to re-subscribe")
            await bus.publish(progress(job_id, 2))
            await bus.publish(terminal(job_id))
            assert [event.step for event in await collect(events)] == [2, 0]
    finally:
        await bus.close()
        await client.aclose()


async def test_outage_subscribe_times_out_publish_fails_and_streams_resume(
    redis_process: RedisProcess,  # noqa: F811
) -> None:
    def make_client() -> Redis:
        return fail_fast_client(redis_process.url)

    client = make_client()
    bus = RedisEventBus(client, subscribe_timeout_s=0.3, reconnect_min_s=0.05, reconnect_max_s=0.2)
    job_id = new_job_id()
    try:
        async with bus.subscribe(job_id) as events:
            redis_process.stop()
            with pytest.raises(EventBusUnavailable):
                await bus.publish(progress(job_id, 1))
            with pytest.raises(EventBusUnavailable):
                async with bus.subscribe(new_job_id()):
                    pass
            assert bus.subscriber_count(job_id) == 1  # the existing subscriber stays
            redis_process.start()

            async def resubscribed() -> bool:
                probe = make_client()
                try:
                    return await numsub(probe, job_events_channel(job_id)) == 1
                except Exception:
                    return False
                finally:
                    await probe.aclose()

            await wait_until(resubscribed, what="the bus to re-subscribe after the outage")
            await bus.publish(terminal(job_id))
            assert [event.type for event in await collect(events)] == [EventType.TERMINAL]
    finally:
        await bus.close()
        await client.aclose()


async def test_keepalive_keeps_an_idle_connection(make_bus: BusFactory) -> None:
    bus = make_bus(keepalive_s=0.1)
    job_id = new_job_id()
    async with bus.subscribe(job_id) as events:
        await asyncio.sleep(0.5)  # several PING round trips with nothing else to read
        await bus.publish(terminal(job_id))
        assert [event.type for event in await collect(events)] == [EventType.TERMINAL]
    assert bus.reconnects == 0


async def test_a_malformed_message_is_skipped(
    make_bus: BusFactory,
    redis_client: Redis,  # noqa: F811
    namespace: str,  # noqa: F811
) -> None:
    bus = make_bus()
    job_id = new_job_id()
    async with bus.subscribe(job_id) as events:
        await redis_client.publish(job_events_channel(job_id, namespace), b"not json")
        await bus.publish(terminal(job_id))
        assert [event.type for event in await collect(events)] == [EventType.TERMINAL]


async def test_close_ends_streams_and_leaves_no_task_or_connection(
    redis_client: Redis,  # noqa: F811
    namespace: str,  # noqa: F811
) -> None:
    client_name = f"eventbus-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(REDIS_URL, client_name=client_name)
    bus = RedisEventBus(client, namespace=namespace)
    tasks_before = asyncio.all_tasks()
    job_id = new_job_id()
    async with bus.subscribe(job_id) as events:
        await bus.publish(progress(job_id, 1))
        reader = asyncio.create_task(collect(events))
        await asyncio.sleep(0.05)
        await bus.close()
        assert [event.step for event in await reader] == [1]
    assert asyncio.all_tasks() == tasks_before
    with pytest.raises(RuntimeError):
        async with bus.subscribe(job_id):
            pass
    await client.aclose()

    async def connection_gone() -> bool:
        names = [c["name"] for c in await redis_client.client_list()]
        return client_name not in names

    await wait_until(connection_gone, what="the pub/sub connection to close")
