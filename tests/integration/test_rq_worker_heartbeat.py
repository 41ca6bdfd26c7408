"""The RQ worker's heartbeat on a real Redis: at most one per ``HEARTBEAT_EVERY_S``
(RQ's loop and the dispatcher's asked two or three times a job), unless RQ sets a
timeout of its own or batches it in a pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from rq.queue import Queue
from rq.utils import now

from worker.rq_worker import HEARTBEAT_EVERY_S, GatewayRQWorker


@pytest.fixture
def worker() -> Iterator[GatewayRQWorker]:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    queue = Queue(f"test-{uuid.uuid4().hex[:8]}", connection=redis)
    rq_worker = GatewayRQWorker([queue], connection=redis)
    try:
        yield rq_worker
    finally:
        redis.delete(rq_worker.key, rq_worker.executions_key)
        redis.close()


def _recorded(worker: GatewayRQWorker) -> bytes | str | None:
    return worker.connection.hget(worker.key, "last_heartbeat")


def test_a_heartbeat_within_the_interval_is_skipped(worker: GatewayRQWorker) -> None:
    worker.heartbeat()
    first = _recorded(worker)
    assert first is not None
    worker.heartbeat()  # the next turn of the loop: nothing sent
    assert _recorded(worker) == first


def test_a_due_heartbeat_is_sent(worker: GatewayRQWorker) -> None:
    worker.heartbeat()
    first = _recorded(worker)
    worker.last_heartbeat = now() - timedelta(seconds=HEARTBEAT_EVERY_S + 1)
    worker.heartbeat()
    assert _recorded(worker) not in (None, first)


def test_a_heartbeat_with_its_own_timeout_is_always_sent(worker: GatewayRQWorker) -> None:
    worker.heartbeat()
    first = _recorded(worker)
    worker.heartbeat(timeout=90)
    assert _recorded(worker) not in (None, first)
    assert 0 < worker.connection.ttl(worker.key) <= 90
