"""(d) One job watched by 1,000 concurrent SSE subscribers: delivery and event delay.

The watched job waits behind blockers (``MAX_CONCURRENCY=1``) until every subscriber
has its snapshot; then the blockers are cancelled and the job runs. An event's delay is
the time from the worker stamping it (its ``timestamp``) to a subscriber reading it,
on the same machine clock. Target (issue 13): every stream ends with the terminal
event, p99 delay ≤ 100 ms, in both modes. The baseline is the same figure for one
lone watcher of an identical job in the same stack. The watchers are
``bench.sse_watcher``'s (they note arrivals and parse after the end): through aiohttp
they took as much of the two cores as the server's sending.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from bench import sse_watcher
from bench.common import MODES, WORKFLOW, Figure, Mode, heading, percentile, record, running_stack

SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS", "1000"))
CLIENT_PROCESSES = 4
TARGET_P99_MS = 100.0
WATCHED = {"prompt": "fanout", "width": 64, "height": 64, "steps": 20}
BLOCKER = {"prompt": "block", "width": 64, "height": 64, "steps": 150}
BLOCKERS = 8
"""Queued ahead of the watched job, 3 s each: room to attach, cancelled once attached."""


@dataclass
class Watch:
    """What the subscribers saw: events per stream (-1: no terminal event), delays, and
    the delays by event type (where a p99 comes from)."""

    counts: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    by_type: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, delay: float) -> None:
        self.delays.append(delay)
        self.by_type.setdefault(kind, []).append(delay)

    def merge(self, other: Watch) -> None:
        self.counts += other.counts
        for kind, delays in other.by_type.items():
            for delay in delays:
                self.add(kind, delay)


def _tally(watchers: list[sse_watcher.SSEWatcher]) -> Watch:
    """Each ended stream's events and delays (``-1`` events: it had no terminal event)."""
    watch = Watch()
    for watcher in watchers:
        arrived = list(watcher.events())
        for received_at, event in arrived:
            if event["type"] != "snapshot":
                watch.add(event["type"], received_at - _epoch(event["timestamp"]))
        ended = bool(arrived) and arrived[-1][1]["type"] == "terminal"
        watch.counts.append(len(arrived) if ended else -1)
    return watch


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _watchers(url: str, count: int, attached: Any) -> list[sse_watcher.SSEWatcher]:
    """``count`` watchers of ``url`` in this process, once every stream has ended;
    ``attached`` is put to once all have their first bytes (the snapshot)."""
    readies = [asyncio.Event() for _ in range(count)]
    watchers = await asyncio.gather(*(sse_watcher.watch(url, ready) for ready in readies))
    await asyncio.gather(*(ready.wait() for ready in readies))
    attached.put(True)
    await asyncio.wait_for(asyncio.gather(*(watcher.ended for watcher in watchers)), timeout=300)
    return list(watchers)


def _watcher_process(url: str, count: int, queues: _Queues) -> None:
    """Parses only when told: a process done early would take CPU from the streams of
    the others, still waiting for their terminal event."""
    watchers = asyncio.run(_watchers(url, count, queues.attached))
    queues.ended.put(True)
    queues.tally.wait(timeout=300)
    queues.results.put(_tally(watchers))


@dataclass
class _Queues:
    """How the parent and its watcher processes hand over: attached, ended, go, results."""

    attached: Any
    ended: Any
    tally: Any
    results: Any


def _watch_one_job(base_url: str, subscribers: int) -> tuple[Watch, float]:
    """Watchers spread over ``CLIENT_PROCESSES`` processes (as real clients are), so one
    client process reading every stream is not what the delay measures."""
    blockers = [_submit(base_url, BLOCKER) for _ in range(BLOCKERS)]
    job_id = _submit(base_url, WATCHED)
    url = f"{base_url}/jobs/{job_id}/events"
    context = multiprocessing.get_context("fork")
    queues = _Queues(context.Queue(), context.Queue(), context.Event(), context.Queue())
    processes = min(CLIENT_PROCESSES, subscribers)
    shares = [subscribers // processes + (i < subscribers % processes) for i in range(processes)]
    started = time.perf_counter()
    workers = [
        context.Process(target=_watcher_process, args=(url, share, queues)) for share in shares
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        queues.attached.get(timeout=120)
    attach_s = time.perf_counter() - started
    for blocker in blockers:
        # 409 when a blocker already ended: nothing left to cancel.
        requests.post(f"{base_url}/jobs/{blocker}/cancel", timeout=30)
    for _ in workers:
        queues.ended.get(timeout=300)
    queues.tally.set()
    watch = Watch()
    for _ in workers:
        watch.merge(queues.results.get(timeout=300))
    for worker in workers:
        worker.join()
    return watch, attach_s


def _submit(base_url: str, inputs: dict[str, Any]) -> str:
    body = {"workflowId": WORKFLOW, "inputs": inputs}
    response = requests.post(f"{base_url}/jobs", json=body, timeout=30)
    response.raise_for_status()
    job_id: str = response.json()["jobId"]
    return job_id


def _measure(mode: Mode) -> None:
    env = {"COMFYUI_EMULATOR_STEP_MS": "20", "MAX_CONCURRENCY": "1"}
    with running_stack(env, mode) as stack:
        lone, _ = _watch_one_job(stack.base_url, 1)
        watch, attach_s = _watch_one_job(stack.base_url, SUBSCRIBERS)
    ended = sum(1 for count in watch.counts if count > 0)
    print(
        f"{mode.name:9s} {ended}/{len(watch.counts)} streams ended with the terminal event; "
        f"{len(watch.delays)} events delivered ({min(watch.counts)}-{max(watch.counts)} per "
        f"stream); all attached in {attach_s:.2f} s"
    )
    by_type = ", ".join(
        f"{kind} {percentile(delays, 0.99) * 1000:.0f}"
        for kind, delays in sorted(watch.by_type.items())
    )
    print(f"{mode.name:9s} p99 delay by event type (ms): {by_type}")
    record(
        Figure(
            "fanout",
            mode.name,
            "streams ending with terminal",
            100.0 * ended / SUBSCRIBERS,
            "%",
            target="100 %",
            met=ended == SUBSCRIBERS,
        )
    )
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        value = percentile(watch.delays, fraction) * 1000
        record(
            Figure(
                "fanout",
                mode.name,
                f"event delay {label}, {SUBSCRIBERS} watchers",
                value,
                "ms",
                baseline=percentile(lone.delays, fraction) * 1000,
                baseline_name="1 watcher",
                target=f"<= {TARGET_P99_MS:.0f} ms" if label == "p99" else "",
                met=value <= TARGET_P99_MS if label == "p99" else None,
            )
        )


def run() -> None:
    heading(f"(d) {SUBSCRIBERS} concurrent SSE watchers of one job (20 steps x 20 ms)")
    for mode in MODES:
        _measure(mode)
