"""The same job through the gateway's REST face, as a plain HTTP client makes it.

``POST /jobs`` → the job's SSE stream until its ``terminal`` event → ``GET`` of every
output URL: submit to output bytes in hand, like the direct side.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bench.common import WORKFLOW


async def submit(
    session: aiohttp.ClientSession,
    base_url: str,
    inputs: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> str:
    body = {"workflowId": WORKFLOW, "inputs": inputs}
    async with session.post(f"{base_url}/jobs", json=body, headers=headers) as response:
        if response.status not in (200, 202):
            raise RuntimeError(f"POST /jobs: {response.status} {await response.text()}")
        job_id: str = (await response.json())["jobId"]
        return job_id


async def terminal_event(
    session: aiohttp.ClientSession, base_url: str, job_id: str
) -> dict[str, Any]:
    """The job's ``terminal`` event, read off its SSE stream."""
    last = b""
    async with session.get(f"{base_url}/jobs/{job_id}/events") as stream:
        async for line in stream.content:
            if line.startswith(b"data: "):
                event: dict[str, Any] = json.loads(line[6:])
                if event["type"] == "terminal":
                    return event
            last = line or last
    raise RuntimeError(
        f"job {job_id}: the stream ended without a terminal event "
        f"(HTTP {stream.status}, last line {last[:300]!r})"
    )


async def run_job(
    session: aiohttp.ClientSession, base_url: str, inputs: dict[str, Any]
) -> list[bytes]:
    """Submit, follow to the end, download every output; the bytes of each."""
    job_id = await submit(session, base_url, inputs)
    event = await terminal_event(session, base_url, job_id)
    if event["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {event['status']}: {event.get('message')}")
    files = []
    for output in event["outputs"]:
        async with session.get(f"{base_url}{output['url']}") as response:
            response.raise_for_status()
            files.append(await response.read())
    return files
