"""metadata.requestId: one job per caller and request id, also under concurrency."""

from __future__ import annotations

import asyncio
import dataclasses

from comfyui_gateway.jobs.status import JobStatus
from tests.delivery_helpers import GatewayCore

pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]


async def test_retry_returns_the_original_job_in_its_current_state(
    gateway_core: GatewayCore,
) -> None:
    request = gateway_core.request(metadata={"requestId": "req_abc123", "userId": "user_456"})
    first = await gateway_core.submitter.submit(request, "alice")
    again = await gateway_core.submitter.submit(request, "alice")
    assert again.job_id == first.job_id and again.status == "queued"
    assert await gateway_core.count_jobs() == 1
    assert sum((await gateway_core.queue.depth()).values()) == 1  # enqueued once

    await gateway_core.run_queued()
    later = await gateway_core.submitter.submit(request, "alice")
    assert (later.job_id, later.status) == (first.job_id, "succeeded")
    # The identical request is also cacheable: the request id still wins, no new job.
    assert await gateway_core.count_jobs() == 1
    assert await gateway_core.prompts_in_history() == 1


async def test_request_ids_are_per_caller(gateway_core: GatewayCore) -> None:
    request = gateway_core.request(inputs={"seed": -1}, metadata={"requestId": "same"})
    alice = await gateway_core.submitter.submit(request, "alice")
    bob = await gateway_core.submitter.submit(request, "bob")
    assert alice.job_id != bob.job_id
    assert (await gateway_core.job(bob.job_id)).owner == "bob"


async def test_concurrent_identical_requests_create_one_job(gateway_core: GatewayCore) -> None:
    request = gateway_core.request(inputs={"seed": -1}, metadata={"requestId": "burst-1"})
    answers = await asyncio.gather(
        *(gateway_core.submitter.submit(request, "alice") for _ in range(8))
    )
    assert len({answer.job_id for answer in answers}) == 1
    assert await gateway_core.count_jobs() == 1
    assert sum((await gateway_core.queue.depth()).values()) == 1


async def test_numeric_request_id_is_the_same_key(gateway_core: GatewayCore) -> None:
    first = await gateway_core.submitter.submit(
        gateway_core.request(inputs={"seed": -1}, metadata={"requestId": 42}), "alice"
    )
    second = await gateway_core.submitter.submit(
        gateway_core.request(inputs={"seed": -1}, metadata={"requestId": 42.0}), "alice"
    )
    assert first.job_id == second.job_id


async def test_replay_of_a_cache_hit_answers_as_a_cache_hit(gateway_core: GatewayCore) -> None:
    await gateway_core.submitter.submit(gateway_core.request(), "alice")
    await gateway_core.run_queued()
    request = gateway_core.request(metadata={"requestId": "r-hit"})
    hit = await gateway_core.submitter.submit(request, "alice")
    replay = await gateway_core.submitter.submit(request, "alice")
    assert hit.status == replay.status == "cache_hit"
    assert replay.job_id == hit.job_id and replay.outputs == hit.outputs
    assert (await gateway_core.job(hit.job_id)).status is JobStatus.SUCCEEDED


async def test_edge_request_id_keys_a_creation_without_request_id(
    gateway_core: GatewayCore,
) -> None:
    """Envoy resends one x-request-id on each retry: a resend after a reset is no new job."""
    request = dataclasses.replace(
        gateway_core.request(inputs={"seed": -1}), transport_request_id="envoy-rid-1"
    )
    first = await gateway_core.submitter.submit(request, "alice")
    retried = await gateway_core.submitter.submit(request, "alice")
    assert retried.job_id == first.job_id
    assert await gateway_core.count_jobs() == 1
    assert (await gateway_core.job(first.job_id)).request_id is None  # the caller gave none


async def test_reused_edge_request_id_with_another_body_is_another_job(
    gateway_core: GatewayCore,
) -> None:
    first = await gateway_core.submitter.submit(
        dataclasses.replace(
            gateway_core.request(inputs={"seed": 1}), transport_request_id="reused"
        ),
        "alice",
    )
    second = await gateway_core.submitter.submit(
        dataclasses.replace(
            gateway_core.request(inputs={"seed": 2}), transport_request_id="reused"
        ),
        "alice",
    )
    explicit = await gateway_core.submitter.submit(
        dataclasses.replace(
            gateway_core.request(inputs={"seed": 1}, metadata={"requestId": "mine"}),
            transport_request_id="reused",
        ),
        "alice",
    )
    assert len({first.job_id, second.job_id, explicit.job_id}) == 3
    assert await gateway_core.count_jobs() == 3
