"""The result cache through the real submitter and runner, on SQLite and PostgreSQL.

A hit is a new job that already reads ``succeeded``, lists the earlier job's files (same
storage paths, no copies) and costs no ComfyUI prompt: the emulator's history proves it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from comfyui_gateway.db.models import CacheEntry
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.submission import JobSubmitter, SubmissionOptions
from comfyui_gateway.workflows.inputs import InputLimits
from tests.delivery_helpers import GatewayCore

pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]


async def _run_first(core: GatewayCore, **fields: object) -> str:
    accepted = await core.submitter.submit(core.request(**fields), "alice")  # type: ignore[arg-type]
    assert accepted.status == "queued" and accepted.http_status == 202
    assert await core.run_queued() == [accepted.job_id]
    assert (await core.job(accepted.job_id)).status is JobStatus.SUCCEEDED
    return accepted.job_id


async def test_identical_request_is_a_cache_hit_without_a_second_prompt(
    gateway_core: GatewayCore,
) -> None:
    first = await _run_first(gateway_core)
    assert await gateway_core.prompts_in_history() == 1
    original = await gateway_core.outputs(first)

    # Spelling a default out, or a float for an integer, is the same request.
    hit = await gateway_core.submitter.submit(gateway_core.request(inputs={"width": 64.0}), "bob")
    assert hit.status == "cache_hit" and hit.http_status == 200
    assert hit.job_id != first
    assert [o["sha256"] for o in hit.outputs] == [o.sha256 for o in original]
    shown = [f"{first}/{o.stored_name}" for o in original]  # the key, never the server's path
    assert [o["storagePath"] for o in hit.outputs] == shown
    assert all(o["url"].startswith(f"/outputs/{hit.job_id}/") for o in hit.outputs)

    job = await gateway_core.job(hit.job_id)
    assert job.status is JobStatus.SUCCEEDED and job.progress == 100.0
    assert job.cached_from_job_id == first
    assert job.completed_at is not None
    assert [o.storage_path for o in await gateway_core.outputs(hit.job_id)] == [
        o.storage_path for o in original
    ]
    assert not (gateway_core.storage.root / hit.job_id).exists()  # no copy of the files
    assert sum((await gateway_core.queue.depth()).values()) == 0  # nothing to run
    assert await gateway_core.prompts_in_history() == 1


async def test_random_seed_never_hits(gateway_core: GatewayCore) -> None:
    first = await gateway_core.submitter.submit(gateway_core.request(inputs={"seed": -1}), "alice")
    await gateway_core.run_queued()
    assert (await gateway_core.job(first.job_id)).cache_key is None
    again = await gateway_core.submitter.submit(gateway_core.request(inputs={"seed": -1}), "alice")
    assert again.status == "queued"


async def test_other_inputs_params_or_checkpoint_miss(gateway_core: GatewayCore) -> None:
    await _run_first(gateway_core)
    for changed in (
        gateway_core.request(prompt="another fox"),
        gateway_core.request(inputs={"seed": 8}),
        gateway_core.request(params={"steps": 3}),
        gateway_core.request(inputs={"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
    ):
        assert (await gateway_core.submitter.submit(changed, "alice")).status == "queued"


async def test_expired_entry_and_disabled_cache_miss(gateway_core: GatewayCore) -> None:
    await _run_first(gateway_core)
    disabled = JobSubmitter(
        gateway_core.sessions,
        gateway_core.queue,
        InputLimits(2048, 4),
        options=SubmissionOptions(cache_enabled=False),
    )
    assert (await disabled.submit(gateway_core.request(), "alice")).status == "queued"
    async with gateway_core.sessions() as session:
        await session.execute(update(CacheEntry).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    assert (await gateway_core.submitter.submit(gateway_core.request(), "alice")).status == "queued"


async def test_a_new_success_refreshes_an_expired_entry(gateway_core: GatewayCore) -> None:
    await _run_first(gateway_core)
    async with gateway_core.sessions() as session:
        await session.execute(update(CacheEntry).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    second = await _run_first(gateway_core)
    hit = await gateway_core.submitter.submit(gateway_core.request(), "alice")
    assert hit.status == "cache_hit"
    assert (await gateway_core.job(hit.job_id)).cached_from_job_id == second
