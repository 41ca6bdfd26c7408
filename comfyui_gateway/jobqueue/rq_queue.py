"""The shared mode's queue: one RQ queue per priority on Redis, plus each entry's facts.

RQ's own job id is the gateway's job id, so a queued job can be found, removed and
re-enqueued by id. Beside the RQ lists, a hash holds each waiting job's entry
(owner, models, queued_at) for the scheduler; workers choose with it and claim the
chosen id by ``LREM`` in one script, so of several workers exactly one wins a job
(see ``worker/rq_worker.py``). Enqueuing publishes on a wake-up channel that idle
workers block on. RQ's client is synchronous; the async methods run in a thread,
except ``enqueue`` given an asyncio client: RQ then only writes its commands into a
pipeline that is never sent (no I/O), and they go to Redis, unchanged and in one MULTI,
through the asyncio client, with no thread hop on the submission path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from rq import Queue

from comfyui_gateway.backends import BackendReport
from comfyui_gateway.config import Settings
from comfyui_gateway.jobs.priority import PRIORITY_ORDER, JobPriority
from comfyui_gateway.names import (
    DEFAULT_NAMESPACE,
    backend_reports_key,
    queue_entries_key,
    queue_name,
    queue_wake_channel,
    residency_key,
    served_key,
    turn_key,
)
from comfyui_gateway.scheduling.entry import QueueEntry
from comfyui_gateway.scheduling.residency import Residency

TASK = "worker.rq_task.run_job"
"""The function RQ workers call with the job id (see worker/rq_task.py)."""

JOB_TIMEOUT_GRACE_S = 600
"""RQ's own job timeout sits this far past COMFYUI_TIMEOUT_MS: the runner times out first."""

SCAN_LIMIT = 1000
"""The scheduler chooses among the oldest this many entries of each priority."""
SERVED_KEPT = 10000
"""Owners remembered for fairness; one not remembered counts as served longest ago."""
SERVED_READ = 1000


def rq_job_timeout(settings: Settings) -> int:
    """The timeout RQ enforces on a job (server and workers enqueue with the same)."""
    return settings.COMFYUI_TIMEOUT_MS // 1000 + JOB_TIMEOUT_GRACE_S


_SNAPSHOT = """
local out = {}
for i = 1, 3 do
  local ids = redis.call('LRANGE', KEYS[i], 0, tonumber(ARGV[1]) - 1)
  local facts = {}
  if #ids > 0 then facts = redis.call('HMGET', KEYS[4], unpack(ids)) end
  out[i] = {ids, facts}
end
out[4] = redis.call('HGETALL', KEYS[5])
out[5] = redis.call('HGETALL', KEYS[6])
out[6] = redis.call('ZRANGE', KEYS[7], -tonumber(ARGV[2]), -1, 'WITHSCORES')
return out
"""

_CLAIM = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
local turn = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], turn, ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[5]) - 1)
return 1
"""


@dataclass
class Snapshot:
    """What a worker chooses from: waiting entries, residency, fairness turns."""

    entries: list[QueueEntry] = field(default_factory=list)
    queues: dict[str, JobPriority] = field(default_factory=dict)
    """job id -> the priority list it sits in (its entry may be missing or stale)."""
    residency: dict[str, Residency] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    """Backends a worker reported reachable within the report TTL."""
    served: dict[str, float] = field(default_factory=dict)


class RQJobQueue:
    """Job ids in RQ queues ``cgw-high``, ``cgw-normal``, ``cgw-low``."""

    def __init__(
        self,
        redis: Redis,
        *,
        job_timeout_s: int,
        namespace: str = DEFAULT_NAMESPACE,
        async_redis: AsyncRedis | None = None,
    ) -> None:
        self._redis = redis
        self._async_redis = async_redis
        self._job_timeout_s = job_timeout_s
        self._namespace = namespace
        self._queues = {
            p: Queue(queue_name(p.value, namespace), connection=redis) for p in PRIORITY_ORDER
        }
        self._entries = queue_entries_key(namespace)
        self._wake = queue_wake_channel(namespace)
        self._snapshot = redis.register_script(_SNAPSHOT)
        self._claim = redis.register_script(_CLAIM)

    @property
    def queues(self) -> list[Queue]:
        """In the order workers must listen to them."""
        return [self._queues[p] for p in PRIORITY_ORDER]

    def queue(self, priority: JobPriority) -> Queue:
        return self._queues[priority]

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def wake_channel(self) -> str:
        return self._wake

    async def enqueue(self, entry: QueueEntry) -> None:
        if self._async_redis is None:
            await asyncio.to_thread(self.enqueue_sync, entry)
            return
        queue = self._queues[entry.priority]
        if queue.redis_server_version is None:  # RQ asks once per queue; ask it off-loop
            await asyncio.to_thread(queue.get_redis_server_version)
        with self._redis.pipeline() as recorder:
            self._write_enqueue(recorder, entry)
            commands = list(recorder.command_stack)
        async with self._async_redis.pipeline(transaction=True) as pipe:
            for args, options in commands:
                pipe.execute_command(*args, **options)
            await pipe.execute()

    def enqueue_sync(self, entry: QueueEntry) -> None:
        """Facts, RQ job and wake-up in one MULTI: a worker that sees the id finds them."""
        with self._redis.pipeline() as pipe:
            self._write_enqueue(pipe, entry)
            pipe.execute()

    def _write_enqueue(self, pipe: Pipeline, entry: QueueEntry) -> None:
        """Queue the enqueue's commands on ``pipe`` (RQ opens the MULTI itself)."""
        self._queues[entry.priority].enqueue_call(
            TASK,
            args=(entry.job_id,),
            job_id=entry.job_id,
            timeout=self._job_timeout_s,
            result_ttl=0,
            failure_ttl=24 * 3600,
            pipeline=pipe,
        )
        pipe.hset(self._entries, entry.job_id, entry.to_json())
        pipe.publish(self._wake, entry.job_id)

    def put_back_sync(self, entry: QueueEntry, job: object) -> None:
        """A claimed job its worker cannot run (backend down): first in line again."""
        self._redis.hset(self._entries, entry.job_id, entry.to_json())
        self._queues[entry.priority].enqueue_job(job, at_front=True)  # type: ignore[arg-type]
        self._redis.publish(self._wake, entry.job_id)

    def snapshot(self, limit: int = SCAN_LIMIT) -> Snapshot:
        """One script call: the waiting entries and what the choice depends on."""
        keys = [q.key for q in self.queues]
        keys += [
            self._entries,
            residency_key(self._namespace),
            backend_reports_key(self._namespace),
            served_key(self._namespace),
        ]
        raw = self._snapshot(keys=keys, args=[limit, SERVED_READ])
        snapshot = Snapshot()
        for priority, (ids, facts) in zip(PRIORITY_ORDER, raw[:3], strict=True):
            for job_id, fact in zip(ids, facts, strict=True):
                entry = QueueEntry.from_json(job_id.decode(), fact)
                if entry.priority is not priority:  # the list it is in decides
                    entry = QueueEntry(
                        entry.job_id, priority, entry.owner, entry.models, entry.queued_at
                    )
                snapshot.entries.append(entry)
                snapshot.queues[entry.job_id] = priority
        for backend, text in _pairs(raw[3]):
            snapshot.residency[backend.decode()] = Residency.from_json(text)
        for backend, text in _pairs(raw[4]):
            report = BackendReport.from_json(text)
            if report.reachable and report.is_fresh():
                snapshot.live.add(backend.decode())
        snapshot.served = {owner.decode(): float(turn) for owner, turn in _pairs(raw[5])}
        return snapshot

    def claim(self, entry: QueueEntry, backend: str, residency: Residency) -> bool:
        """Take ``entry`` out of its list for ``backend``; False if another worker won."""
        keys = [
            self._queues[entry.priority].key,
            self._entries,
            residency_key(self._namespace),
            served_key(self._namespace),
            turn_key(self._namespace),
        ]
        args: list[str | int] = [
            entry.job_id,
            backend,
            residency.to_json(),
            entry.owner,
            SERVED_KEPT,
        ]
        return bool(self._claim(keys=keys, args=args))

    def forget(self, backend: str) -> None:
        """The backend went down: a restarted ComfyUI holds no model."""
        self._redis.hdel(residency_key(self._namespace), backend)

    async def remove(self, job_id: str) -> bool:
        return await asyncio.to_thread(self._remove, job_id)

    def _remove(self, job_id: str) -> bool:
        removed = sum(queue.remove(job_id) for queue in self._queues.values())
        if removed:
            self._redis.hdel(self._entries, job_id)
        return bool(removed > 0)

    async def contains(self, job_id: str) -> bool:
        return await asyncio.to_thread(self._contains, job_id)

    def _contains(self, job_id: str) -> bool:
        # The queue lists themselves, not RQ's job status: a worker killed right after
        # claiming would otherwise hide the job from the reconciler. A duplicate enqueue
        # is harmless (the runner only claims a job the database still calls queued).
        return any(queue.get_job_position(job_id) is not None for queue in self._queues.values())

    async def depth(self) -> dict[JobPriority, int]:
        return await asyncio.to_thread(lambda: {p: q.count for p, q in self._queues.items()})

    async def waiting(self) -> list[QueueEntry]:
        return (await asyncio.to_thread(self.snapshot)).entries


def _pairs(flat: list[bytes]) -> list[tuple[bytes, bytes]]:
    return list(zip(flat[::2], flat[1::2], strict=True))
