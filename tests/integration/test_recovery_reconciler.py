"""The reconciler against a real database (SQLite, PostgreSQL) and the real emulator.

Each test sets up what a crash leaves behind — a job row ``running`` with a stale
heartbeat, a ``queued`` row no queue holds — and checks that one sweep ends it right.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select, update

from comfyui_gateway.db.models import CacheEntry, Job, JobOutput
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobs import transitions
from comfyui_gateway.jobs.recovery import Reconciler, ReconcilerConfig
from comfyui_gateway.jobs.status import JobStatus
from tests.delivery_helpers import CACHE_TTL_S, GatewayCore
from tests.emulator_helpers import FAST_CLIENT, wait_history
from worker.collect import collect_and_succeed
from worker.recovery import HistoryInspector
from worker.runner import prompt_id_for

pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]

STALE_S = 5.0


def reconciler(core: GatewayCore, *, run_limit_s: float = 600.0) -> Reconciler:
    inspector = HistoryInspector(
        sessions=core.sessions,
        storage=core.storage,
        bus=core.bus,
        client_config=FAST_CLIENT,
        cache_ttl_s=CACHE_TTL_S,
    )
    config = ReconcilerConfig(interval_s=0.1, stale_s=STALE_S, run_limit_s=run_limit_s)
    return Reconciler(core.sessions, core.queue, core.bus, inspector, config)


async def abandoned_job(core: GatewayCore, **values: Any) -> Job:
    """A job a worker claimed (attempt 1) and then died with: heartbeat 60 s old."""
    accepted = await core.submitter.submit(core.request(inputs={"seed": -1}), "alice")
    await core.queue.remove(accepted.job_id)
    async with core.sessions() as session:
        assert await transitions.mark_running(
            session, accepted.job_id, attempt=0, worker_id="dead", backend_url=core.client.base_url
        )
        values = {"heartbeat_at": utcnow() - timedelta(seconds=60), **values}
        await session.execute(update(Job).where(Job.id == accepted.job_id).values(**values))
        await session.commit()
    return await core.job(accepted.job_id)


async def submit_prompt(core: GatewayCore, job: Job, *, steps: int = 2) -> str:
    """What the dead worker had done: POST its deterministic prompt to ComfyUI."""
    import json

    graph = json.loads(job.prompt_graph or "{}")
    graph["3"]["inputs"]["steps"] = steps
    prompt_id = prompt_id_for(job.id, job.attempt)
    await core.client.submit(graph, prompt_id=prompt_id)
    return prompt_id


async def test_finished_prompt_is_collected_not_rerun(gateway_core: GatewayCore) -> None:
    job = await abandoned_job(gateway_core)
    prompt_id = await submit_prompt(gateway_core, job)
    async with aiohttp.ClientSession() as http:
        await wait_history(http, gateway_core.client.base_url, prompt_id)

    report = await reconciler(gateway_core).sweep()

    assert report.settled == [job.id]
    done = await gateway_core.job(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.attempt == 1
    outputs = await gateway_core.outputs(job.id)
    assert len(outputs) == 1 and outputs[0].sha256
    assert await gateway_core.prompts_in_history() == 1  # collected, not rerun
    again = await reconciler(gateway_core).sweep()  # a second sweep changes nothing
    assert not again
    assert len(await gateway_core.outputs(job.id)) == 1


async def test_prompt_still_running_is_left_then_collected(gateway_core: GatewayCore) -> None:
    job = await abandoned_job(gateway_core)
    prompt_id = await submit_prompt(gateway_core, job, steps=150)  # ~0.75 s at 5 ms/step
    sweeper = reconciler(gateway_core)
    report = await sweeper.sweep()
    assert report.active == [job.id]
    assert (await gateway_core.job(job.id)).status is JobStatus.RUNNING
    async with aiohttp.ClientSession() as http:
        await wait_history(http, gateway_core.client.base_url, prompt_id)
    async with gateway_core.sessions() as session:  # the next staleness period passes
        await session.execute(
            update(Job).values(heartbeat_at=utcnow() - timedelta(seconds=STALE_S + 1))
        )
        await session.commit()
    assert (await sweeper.sweep()).settled == [job.id]
    assert (await gateway_core.job(job.id)).status is JobStatus.SUCCEEDED
    assert await gateway_core.prompts_in_history() == 1


async def test_unknown_prompt_is_requeued_then_fails_after_max_attempts(
    gateway_core: GatewayCore,
) -> None:
    job = await abandoned_job(gateway_core)  # died before POST /prompt
    sweeper = reconciler(gateway_core)
    assert (await sweeper.sweep()).requeued == [job.id]
    requeued = await gateway_core.job(job.id)
    assert requeued.status is JobStatus.QUEUED and requeued.attempt == 1
    assert await gateway_core.queue.contains(job.id)

    await gateway_core.queue.remove(job.id)
    async with gateway_core.sessions() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status=JobStatus.RUNNING,
                attempt=job.max_attempts,
                heartbeat_at=utcnow() - timedelta(seconds=60),
            )
        )
        await session.commit()
    assert (await sweeper.sweep()).failed == [job.id]
    failed = await gateway_core.job(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "COMFYUI_UNREACHABLE"


async def test_job_past_its_time_limit_fails_with_timeout(gateway_core: GatewayCore) -> None:
    job = await abandoned_job(
        gateway_core,
        heartbeat_at=utcnow(),  # a live but hung worker
        started_at=utcnow() - timedelta(seconds=30),
    )
    report = await reconciler(gateway_core, run_limit_s=10).sweep()
    assert report.timed_out == [job.id]
    failed = await gateway_core.job(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "COMFYUI_TIMEOUT"


async def test_queued_job_lost_by_the_queue_is_enqueued_again(gateway_core: GatewayCore) -> None:
    accepted = await gateway_core.submitter.submit(gateway_core.request(), "alice")
    await gateway_core.queue.remove(accepted.job_id)  # what a Redis flush does
    async with gateway_core.sessions() as session:
        await session.execute(update(Job).values(queued_at=utcnow() - timedelta(seconds=5)))
        await session.commit()
    report = await reconciler(gateway_core).sweep()
    assert report.reenqueued == [accepted.job_id]
    assert await gateway_core.run_queued() == [accepted.job_id]
    assert (await gateway_core.job(accepted.job_id)).status is JobStatus.SUCCEEDED
    assert not (await reconciler(gateway_core).sweep()).reenqueued


async def test_two_finishers_record_outputs_once(gateway_core: GatewayCore) -> None:
    job = await abandoned_job(gateway_core)
    prompt_id = await submit_prompt(gateway_core, job)
    async with aiohttp.ClientSession() as http:
        await wait_history(http, gateway_core.client.base_url, prompt_id)
    record = await gateway_core.client.history(prompt_id)
    assert record is not None

    async def finisher() -> Any:
        return await collect_and_succeed(
            sessions=gateway_core.sessions,
            client=gateway_core.client,
            storage=gateway_core.storage,
            job_id=job.id,
            attempt=job.attempt,
            refs=record.outputs,
            cache_ttl_s=CACHE_TTL_S,
        )

    results = await asyncio.gather(finisher(), finisher(), finisher())
    assert sum(result is not None for result in results) == 1
    async with gateway_core.sessions() as session:
        rows = await session.scalar(
            select(func.count(JobOutput.id)).where(JobOutput.job_id == job.id)
        )
        entries = await session.scalar(select(func.count(CacheEntry.key)))
    assert rows == 1
    assert entries == 0  # a random seed is never cached
    # The losers' files are gone: the job's folder holds exactly the winner's file.
    (winner,) = [output for result in results if result is not None for output in result]
    stored = sorted(
        path.name for path in Path(winner.storage_path).parent.iterdir() if path.is_file()
    )
    assert stored == [winner.stored_name]
