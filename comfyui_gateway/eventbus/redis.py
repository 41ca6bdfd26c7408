"""The multi-process event bus: Redis pub/sub, one pub/sub connection per bus.

Publishing is one ``PUBLISH`` on the job's channel. Subscribing is where cost hides: a
popular job may have hundreds of watchers on one server, so a bus (one per server
process) holds a single pub/sub connection, subscribes a job's channel for its first
local subscriber only, and unsubscribes it when the last one leaves; one reader task
dispatches each message to that job's local queues.

Why a pooled connection driven by hand rather than redis-py's ``PubSub``: ``PubSub``
reconnects and re-subscribes by itself inside whichever call notices a failure (a
subscriber's ``subscribe`` or the reader's ``get_message``), so "is this channel's
subscription active yet?" has no reliable answer, and two tasks sharing it race on
reconnection. Here two tasks split the work:

- the **reader** owns the connection: connect, read replies and messages, dispatch; on
  any failure drop the connection, wait (exponential backoff with jitter), reconnect;
- the **writer** is woken whenever the set of wanted channels changes and sends the
  difference (``SUBSCRIBE``/``UNSUBSCRIBE``) while the connection is live, so after a
  reconnect it re-subscribes every channel that still has local subscribers.

Outages: subscribers keep their iterators across a reconnect, but events published
while the connection was down are lost for them (pub/sub has no replay). That is
acceptable because the database is the source of truth: a client that sees a gap, or
reconnects, re-reads the job. A subscriber that *enters* while the connection is down
waits for its channel to be confirmed (up to ``subscribe_timeout_s``, then
``EventBusUnavailable``), so "nothing published after ``__aenter__`` returns is lost"
holds whenever ``__aenter__`` returns.

Half-open connections (a Redis host gone without a reset) are caught by a keepalive:
after ``keepalive_s`` of silence the bus sends ``PING``; another ``keepalive_s`` with
no reply at all counts as a lost connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from comfyui_gateway.eventbus.protocol import EventBusUnavailable
from comfyui_gateway.eventbus.queue import DEFAULT_QUEUE_SIZE, EventQueue
from comfyui_gateway.eventbus.subscription import Subscription
from comfyui_gateway.events import JobEvent
from comfyui_gateway.names import DEFAULT_NAMESPACE, job_events_channel

log = logging.getLogger(__name__)


class _Channel:
    """One wanted channel: its local subscribers, and whether Redis confirmed it."""

    __slots__ = ("confirmed", "queues")

    def __init__(self) -> None:
        self.queues: set[EventQueue] = set()
        self.confirmed = asyncio.Event()


class RedisEventBus:
    """An ``EventBus`` over Redis pub/sub; create one per process and share it.

    Usage::

        bus = RedisEventBus(redis)               # redis.asyncio.Redis, owned by the caller
        await bus.publish(event)                 # worker side
        async with bus.subscribe(job_id) as events:
            async for event in events: ...       # server side
        await bus.close()                        # stops tasks, drops the pub/sub connection

    A process that only publishes (a worker) never opens the pub/sub connection: the
    reader and writer tasks start with the first subscription.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        subscribe_timeout_s: float = 5.0,
        keepalive_s: float = 30.0,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 5.0,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        if subscribe_timeout_s <= 0 or keepalive_s <= 0:
            raise ValueError("subscribe_timeout_s and keepalive_s must be positive")
        self._redis = redis
        self._namespace = namespace
        self._queue_size = queue_size
        self._subscribe_timeout_s = subscribe_timeout_s
        self._keepalive_s = keepalive_s
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s

        self._channels: dict[str, _Channel] = {}
        """Channels wanted: those with at least one local subscriber."""
        self._conn: AbstractConnection | None = None
        self._live = False
        self._epoch = 0
        """Bumped on every connect and loss, so a write on an old connection is ignored."""
        self._sent: set[str] = set()
        """Channels subscribed (SUBSCRIBE sent, no UNSUBSCRIBE since) on the live connection."""
        self._unconfirmed: dict[str, int] = {}
        """SUBSCRIBE commands per channel whose reply has not arrived yet."""
        self._wake = asyncio.Event()
        self._ping_due = False
        self._ping_sent = False
        self._replies = 0
        """Replies read on the current connection."""
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.reconnects = 0
        """Connections re-established after a loss (for metrics and tests)."""

    async def publish(self, event: JobEvent) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        try:
            await self._redis.publish(self._channel_of(event.job_id), event.to_json())
        except (RedisError, OSError) as exc:
            # The cause stays chained for logs; the message may reach a client, so it
            # names no host.
            raise EventBusUnavailable(f"could not publish an event of job {event.job_id}") from exc

    async def publish_many(self, events: Sequence[JobEvent]) -> None:
        """One pipelined round trip for all of ``events`` (Redis keeps their order)."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if len(events) == 1:
            await self.publish(events[0])
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self._channel_of(event.job_id), event.to_json())
                await pipe.execute()
        except (RedisError, OSError) as exc:
            job_ids = ", ".join(sorted({event.job_id for event in events}))
            raise EventBusUnavailable(f"could not publish events of job {job_ids}") from exc

    def subscribe(self, job_id: str) -> Subscription:
        channel = self._channel_of(job_id)
        return Subscription(
            job_id,
            EventQueue(self._queue_size),
            attach=partial(self._attach, channel),
            detach=partial(self._detach, channel),
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # Belt and braces: on Python 3.11 redis-py's ``asyncio.wait_for`` around a socket
        # write can swallow a cancellation, so the loops also stop on ``_closed``: the
        # writer once woken, the reader once its connection is gone. The reader's
        # ``finally`` releases the connection back to the client's pool.
        self._wake.set()
        if self._conn is not None:
            await self._conn.disconnect(nowait=True)
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("event bus: a task failed", exc_info=result)
        for entry in self._channels.values():
            for queue in entry.queues:
                queue.close()
            entry.confirmed.set()  # wakes subscribers still entering; they see the close
        self._channels.clear()

    def subscriber_count(self, job_id: str) -> int:
        """Local subscribers of ``job_id`` (for metrics and tests)."""
        entry = self._channels.get(self._channel_of(job_id))
        return 0 if entry is None else len(entry.queues)

    def _channel_of(self, job_id: str) -> str:
        return job_events_channel(job_id, self._namespace)

    # -- subscribers ---------------------------------------------------------------------

    async def _attach(self, channel: str, queue: EventQueue) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        self._start()
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel()
            if self._live and channel in self._sent and channel not in self._unconfirmed:
                # Its last subscriber just left and the UNSUBSCRIBE is not sent yet:
                # the subscription is still active on the live connection.
                entry.confirmed.set()
            else:
                self._wake.set()
        entry.queues.add(queue)
        if entry.confirmed.is_set():
            return
        try:
            async with asyncio.timeout(self._subscribe_timeout_s):
                await entry.confirmed.wait()
        except TimeoutError:
            self._detach(channel, queue)
            raise EventBusUnavailable(
                f"Redis did not confirm the subscription to {channel} "
                f"within {self._subscribe_timeout_s} s"
            ) from None
        except BaseException:
            self._detach(channel, queue)
            raise
        if self._closed:
            raise RuntimeError("the event bus was closed while subscribing")

    def _detach(self, channel: str, queue: EventQueue) -> None:
        queue.close()
        entry = self._channels.get(channel)
        if entry is None or queue not in entry.queues:
            return
        entry.queues.discard(queue)
        if not entry.queues:
            del self._channels[channel]
            self._wake.set()

    def _start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="eventbus-redis-reader"),
            asyncio.create_task(self._write_forever(), name="eventbus-redis-writer"),
        ]

    # -- reader: owns the connection -----------------------------------------------------

    async def _read_forever(self) -> None:
        delay = self._reconnect_min_s
        while not self._closed:
            try:
                # A connection of the client's own pool: same address, auth, TLS, RESP
                # version. redis-py leaves this method unannotated.
                pool = self._redis.connection_pool
                conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
            except Exception as exc:
                log.warning("event bus: cannot connect to Redis (%s); retrying", exc)
            else:
                try:
                    if not self._closed:  # a swallowed cancellation (see close) ends here
                        self._go_live(conn)
                        await self._serve(conn)
                except Exception as exc:
                    log.warning("event bus: lost the Redis pub/sub connection (%s)", exc)
                finally:
                    await self._go_dead(conn)
                if self._replies:  # that connection worked: start the backoff afresh
                    delay = self._reconnect_min_s
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self._reconnect_max_s)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Read and dispatch replies until the connection breaks (then raise)."""
        while True:
            response = await conn.read_response(timeout=self._keepalive_s, push_request=True)
            if response is None:  # silence for keepalive_s
                if self._ping_sent:
                    raise RedisConnectionError(f"no reply to PING within {self._keepalive_s} s")
                self._ping_sent = self._ping_due = True
                self._wake.set()
                continue
            self._replies += 1
            self._ping_sent = False
            self._dispatch(response)

    def _go_live(self, conn: AbstractConnection) -> None:
        if self._epoch:
            self.reconnects += 1
            log.info("event bus: reconnected, re-subscribing %d channels", len(self._channels))
        self._conn = conn
        self._epoch += 1
        self._live = True
        self._ping_due = self._ping_sent = False
        self._replies = 0
        self._wake.set()

    async def _go_dead(self, conn: AbstractConnection) -> None:
        self._live = False
        self._conn = None
        self._epoch += 1
        self._sent.clear()
        self._unconfirmed.clear()
        for entry in self._channels.values():
            entry.confirmed.clear()
        try:
            await conn.disconnect(nowait=True)
        finally:
            await self._redis.connection_pool.release(conn)

    def _dispatch(self, response: Any) -> None:
        # Pub/sub replies are [kind, channel, payload]; PING's is [b"pong", b""] (RESP2)
        # or a plain PONG (RESP3): anything else only proves the connection is alive.
        if not isinstance(response, list) or len(response) != 3:
            return
        kind, channel = _text(response[0]), _text(response[1])
        if kind == "message":
            entry = self._channels.get(channel)
            if entry is None:  # unsubscribed locally, UNSUBSCRIBE still in flight
                return
            try:
                event = JobEvent.from_json(response[2])
            except Exception:
                log.warning("event bus: ignored a malformed event on %s", channel, exc_info=True)
                return
            for queue in entry.queues:
                queue.put(event)
        elif kind == "subscribe":
            self._confirm(channel)

    def _confirm(self, channel: str) -> None:
        pending = self._unconfirmed.get(channel, 0) - 1
        if pending > 0:
            # An older SUBSCRIBE's reply (the channel was unsubscribed and subscribed
            # again since): the newest one is not in effect yet.
            self._unconfirmed[channel] = pending
            return
        self._unconfirmed.pop(channel, None)
        entry = self._channels.get(channel)
        if entry is not None and channel in self._sent:
            entry.confirmed.set()

    # -- writer: keeps Redis's channel set equal to the wanted one --------------------------

    async def _write_forever(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            conn, epoch = self._conn, self._epoch
            if conn is None or not self._live:
                continue  # the reader wakes us again once connected
            try:
                await self._sync(conn, epoch)
            except Exception as exc:
                if epoch == self._epoch:
                    log.warning("event bus: writing to Redis failed (%s)", exc)
                    # Make sure the reader notices and reconnects.
                    self._live = False
                    await conn.disconnect(nowait=True)

    async def _sync(self, conn: AbstractConnection, epoch: int) -> None:
        def usable() -> bool:
            # Checked right before each send: sending on a dropped connection would
            # make redis-py reconnect it behind the reader's back.
            return self._live and self._epoch == epoch and conn.is_connected

        stale = sorted(self._sent.difference(self._channels))
        if stale and usable():
            self._sent.difference_update(stale)
            await conn.send_command("UNSUBSCRIBE", *stale, check_health=False)
        fresh = [channel for channel in self._channels if channel not in self._sent]
        if fresh and usable():
            self._sent.update(fresh)
            for channel in fresh:
                self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
            await conn.send_command("SUBSCRIBE", *fresh, check_health=False)
        if self._ping_due and usable():
            self._ping_due = False
            await conn.send_command("PING", check_health=False)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
