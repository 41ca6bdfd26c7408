"""(d) One job watched by 1,000 concurrent SSE subscribers: delivery and latency.

Latency is the time from the worker publishing an event (its ``timestamp``) to a
subscriber reading it, on the same machine clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime

import aiohttp

from bench.common import WORKFLOW, heading, percentile, running_stack

SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS", "1000"))


async def _subscriber(
    session: aiohttp.ClientSession,
    url: str,
    ready: asyncio.Event,
    counts: list[int],
    latencies: list[float],
) -> None:
    received = 0
    async with session.get(url) as stream:
        async for line in stream.content:
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            ready.set()
            if event["type"] not in ("snapshot",):
                published = _epoch(event["timestamp"])
                latencies.append(time.time() - published)
            received += 1
            if event["type"] == "terminal":
                counts.append(received)
                return
    counts.append(-1)  # the stream ended without a terminal event


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _fanout(base_url: str) -> tuple[list[int], list[float], float]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        body = {
            "workflowId": WORKFLOW,
            "inputs": {"prompt": "fanout", "width": 64, "height": 64, "steps": 40},
        }
        # A job that waits behind a blocker, so every subscriber is attached before it runs.
        blocker = {
            "workflowId": WORKFLOW,
            "inputs": {"prompt": "block", "width": 64, "height": 64, "steps": 60},
        }
        async with session.post(f"{base_url}/jobs", json=blocker) as response:
            await response.read()
        async with session.post(f"{base_url}/jobs", json=body) as response:
            job_id = (await response.json())["jobId"]
        counts: list[int] = []
        latencies: list[float] = []
        readies = [asyncio.Event() for _ in range(SUBSCRIBERS)]
        url = f"{base_url}/jobs/{job_id}/events"
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(_subscriber(session, url, ready, counts, latencies))
            for ready in readies
        ]
        await asyncio.gather(*(ready.wait() for ready in readies))
        attach_s = time.perf_counter() - started
        await asyncio.gather(*tasks)
        return counts, latencies, attach_s


def run(step_ms: int = 100) -> dict[str, float]:
    heading(f"(d) {SUBSCRIBERS} concurrent SSE subscribers on one job (40 steps x {step_ms} ms)")
    figures = {}
    for mode, workers in (("embedded", 0), ("redis", 1)):
        with running_stack(
            {"COMFYUI_EMULATOR_STEP_MS": str(step_ms), "MAX_CONCURRENCY": "1"}, workers=workers
        ) as stack:
            counts, latencies, attach_s = asyncio.run(_fanout(stack.base_url))
        ended = sum(1 for count in counts if count > 0)
        figures[mode] = percentile(latencies, 0.5)
        print(
            f"{mode:9s}: {ended}/{len(counts)} streams ended with the terminal event; "
            f"{sum(c for c in counts if c > 0)} events delivered ({min(counts)}-{max(counts)} "
            f"per stream, progress conflated when a stream lags); attach {attach_s:.2f} s; "
            "latency p50 "
            f"{percentile(latencies, 0.5) * 1000:.1f} ms "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
        )
    return figures
