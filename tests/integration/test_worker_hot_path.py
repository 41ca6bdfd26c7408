"""The worker's short path keeps its guarantees (SQLite and PostgreSQL, real emulator).

One claim statement still has one winner, in a transaction or in autocommit; the lines
the journal held back commit with the success, in order, together with the cache entry;
a journal write is ordered and ``take`` hands over exactly what was not written.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from comfyui_gateway.backends import MemoryBackendReports
from comfyui_gateway.db.engine import create_autocommit_session_factory
from comfyui_gateway.db.models import CacheEntry, Job, WebhookDelivery
from comfyui_gateway.jobs import store, transitions
from comfyui_gateway.jobs.status import JobStatus
from tests.delivery_helpers import GatewayCore
from tests.emulator_helpers import FAST_CLIENT
from worker.comfyui import ComfyUIClient
from worker.journal import JobJournal
from worker.monitor import BackendMonitor
from worker.probe import BackendProbe
from worker.services import BackendWorker

pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]


async def test_claim_has_one_winner(gateway_core: GatewayCore) -> None:
    accepted = await gateway_core.submitter.submit(gateway_core.request(), "alice")
    async with gateway_core.sessions() as session:
        first = await transitions.claim_queued(
            session, accepted.job_id, worker_id="a", backend_url="u"
        )
        await session.commit()
    async with gateway_core.sessions() as session:
        second = await transitions.claim_queued(
            session, accepted.job_id, worker_id="b", backend_url="u"
        )
    assert first is not None and second is None
    assert first.status is JobStatus.RUNNING and first.attempt == 1 and first.worker_id == "a"


async def test_concurrent_claims_in_autocommit_sessions_have_one_winner(
    gateway_core: GatewayCore,
) -> None:
    """Workers claim in autocommit sessions (one round trip on PostgreSQL): the single
    conditional statement alone decides the winner."""
    accepted = await gateway_core.submitter.submit(gateway_core.request(), "alice")
    claims = create_autocommit_session_factory(gateway_core.sessions.kw["bind"])

    async def claim(worker_id: str) -> Job | None:
        async with claims() as session:
            job = await transitions.claim_queued(
                session, accepted.job_id, worker_id=worker_id, backend_url="u"
            )
            await session.commit()
            return job

    results = await asyncio.gather(*(claim(f"w{i}") for i in range(8)))
    winners = [job for job in results if job is not None]
    assert len(winners) == 1 and winners[0].attempt == 1
    stored = await gateway_core.job(accepted.job_id)
    assert stored.status is JobStatus.RUNNING and stored.worker_id == winners[0].worker_id


async def test_success_carries_the_held_lines_and_the_cache_entry(
    gateway_core: GatewayCore,
) -> None:
    accepted = await gateway_core.submitter.submit(gateway_core.request(), "alice")
    assert await gateway_core.run_queued() == [accepted.job_id]

    job = await gateway_core.job(accepted.job_id)
    assert job.status is JobStatus.SUCCEEDED and job.comfy_prompt_id
    async with gateway_core.sessions() as session:
        lines = [row.message for row in await store.list_logs(session, job.id)]
        entry = await session.scalar(select(CacheEntry).where(CacheEntry.key == job.cache_key))
        webhooks = (await session.scalars(select(WebhookDelivery))).all()
    assert lines[0] == "Job queued"
    assert lines[1].startswith("Started on backend") and lines[2].endswith(job.comfy_prompt_id)
    assert lines[3:-2] and all(line.startswith("Node ") for line in lines[3:-2])
    assert lines[-2] == "Outputs stored: 1 file(s)" and lines[-1].startswith("Succeeded in ")
    assert entry is not None and entry.job_id == job.id
    assert webhooks == []  # no callback URL: no outbox row


async def test_journal_writes_in_order_and_take_hands_over_the_rest(
    gateway_core: GatewayCore,
) -> None:
    accepted = await gateway_core.submitter.submit(gateway_core.request(), "alice")
    async with gateway_core.sessions() as session:
        job = await transitions.claim_queued(
            session, accepted.job_id, worker_id="w", backend_url="u"
        )
        await session.commit()
    assert job is not None
    journal = JobJournal(gateway_core.sessions, job.id, job.attempt, delay_s=60.0)
    journal.logs("info", ["one", "two"])
    journal.record(progress=40.0)
    await journal.flush()  # now, not after the delay
    journal.log("warn", "three")
    journal.record(progress=60.0)
    assert await journal.take() == ([("warn", "three")], {"progress": 60.0})

    async with gateway_core.sessions() as session:
        rows = await store.list_logs(session, job.id)
        stored = await store.get_job(session, job.id)
    written = [(row.level, row.message) for row in rows]
    assert written == [("info", "Job queued"), ("info", "one"), ("info", "two")]
    assert stored.progress == 40.0


async def test_a_batch_is_stored_whole_in_comfyui_order(gateway_core: GatewayCore) -> None:
    request = gateway_core.request(inputs={"batch_size": 3})
    accepted = await gateway_core.submitter.submit(request, "alice")
    assert await gateway_core.run_queued() == [accepted.job_id]

    job = await gateway_core.job(accepted.job_id)
    outputs = await gateway_core.outputs(job.id)
    record = await gateway_core.client.history(job.comfy_prompt_id or "")
    assert job.status is JobStatus.SUCCEEDED and record is not None
    assert [output.filename for output in outputs] == [ref.filename for ref in record.outputs]
    assert len(outputs) == 3
    for output in outputs:
        stored = await gateway_core.storage.stat(job.id, output.stored_name)
        assert stored is not None and stored.sha256 == output.sha256


async def test_a_started_backend_worker_has_its_socket_up_before_any_job(
    gateway_core: GatewayCore,
) -> None:
    """The first job after start-up finds the WebSocket connected (no gap to close with
    ``/history``, no connect inside the job's time)."""
    url = gateway_core.emulator.base_url
    async with ComfyUIClient(url, FAST_CLIENT) as client:
        backend = BackendWorker(
            url=url,
            client=client,
            monitor=BackendMonitor(url, MemoryBackendReports(), probe=BackendProbe(url)),
            runner=gateway_core.runner,
        )
        await backend.start()
        try:
            await asyncio.wait_for(client.stream.connected.wait(), timeout=30)
        finally:
            await backend.stop()
