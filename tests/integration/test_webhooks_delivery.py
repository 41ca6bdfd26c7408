"""Webhook delivery from the outbox to real HTTP receivers (aiohttp servers on loopback).

Receivers that fail twice then succeed, that are down for good, or that sit on an
address the policy forbids; every attempt is checked for its signature over the exact
raw body, and recorded in ``webhook_deliveries`` and the job's logs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp import web

from comfyui_gateway.db.models import WebhookDelivery
from comfyui_gateway.jobs import store, transitions
from comfyui_gateway.webhooks import outbox
from comfyui_gateway.webhooks.deliverer import MAX_ATTEMPTS, WebhookDeliverer
from comfyui_gateway.webhooks.sender import WebhookSender
from comfyui_gateway.webhooks.signing import verify
from tests.delivery_helpers import GatewayCore
from tests.ports import free_port

pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]

SECRET = "your-webhook-secret"


class Receiver:
    """A webhook endpoint answering a scripted list of statuses (then 200)."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((await request.read(), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"received": status == 200}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/webhook/comfyui", target.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    target.url = f"http://127.0.0.1:{port}/webhook/comfyui?token=abc"
    yield target
    await runner.cleanup()


def deliverer(core: GatewayCore, patterns: Sequence[str] = ("127.0.0.1",)) -> WebhookDeliverer:
    return WebhookDeliverer(
        core.sessions, WebhookSender(SECRET, patterns), retry_base_s=0.05, poll_s=0.02
    )


async def finished_job(core: GatewayCore, url: str, **metadata: Any) -> str:
    request = core.request(callback_url=url, metadata={"requestId": "r1", **metadata})
    accepted = await core.submitter.submit(request, "alice")
    await core.run_queued()
    return accepted.job_id


async def deliveries(core: GatewayCore, job_id: str) -> list[WebhookDelivery]:
    async with core.sessions() as session:
        return list(await outbox.list_deliveries(session, job_id))


async def settle(core: GatewayCore, job_id: str, attempts: int, timeout_s: float = 10) -> None:
    """Wait until ``attempts`` rows exist and none is pending."""
    async with asyncio.timeout(timeout_s):
        while True:
            rows = await deliveries(core, job_id)
            if len(rows) >= attempts and all(row.next_attempt_at is None for row in rows):
                return
            await asyncio.sleep(0.02)


async def test_receiver_failing_twice_gets_the_third_attempt(
    gateway_core: GatewayCore, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    job_id = await finished_job(gateway_core, receiver.url, userId="user_456", n="Zoë ✓")
    pending = await deliveries(gateway_core, job_id)  # written with the terminal state
    assert [(row.attempt, row.succeeded) for row in pending] == [(1, False)]

    sender = deliverer(gateway_core)
    await sender.start()
    try:
        await settle(gateway_core, job_id, 3)
    finally:
        await sender.stop()

    rows = await deliveries(gateway_core, job_id)
    assert [(r.attempt, r.status_code, r.succeeded) for r in rows] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert rows[0].error == "HTTP 500" and rows[2].error is None
    assert len(receiver.requests) == 3
    bodies = {body for body, _ in receiver.requests}
    assert len(bodies) == 1  # every retry sends the same bytes
    body, headers = receiver.requests[-1]
    assert verify(SECRET, body, headers["X-Signature"])
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert list(payload) == [
        "event",
        "jobId",
        "status",
        "workflowId",
        "result",
        "error",
        "timing",
        "metadata",
    ]
    assert payload["event"] == "job.succeeded" and payload["status"] == "succeeded"
    assert payload["jobId"] == job_id and payload["workflowId"] == "icon_512"
    assert payload["error"] is None
    assert payload["metadata"] == {"requestId": "r1", "userId": "user_456", "n": "Zoë ✓"}
    output = payload["result"]["outputs"][0]
    assert output["url"].startswith(f"/outputs/{job_id}/") and output["size"] > 0
    assert output["storagePath"] == output["url"].removeprefix("/outputs/")  # no server path
    assert set(payload["timing"]) == {"createdAt", "startedAt", "completedAt", "executionTimeMs"}
    assert payload["timing"]["completedAt"].endswith("Z")

    async with gateway_core.sessions() as session:
        lines = [line.message for line in await store.list_logs(session, job_id)]
    webhook_lines = [line for line in lines if line.startswith("Webhook")]
    assert len(webhook_lines) == 3
    assert "retrying in" in webhook_lines[0] and "token" not in " ".join(webhook_lines)
    assert webhook_lines[-1].startswith("Webhook delivered to http://127.0.0.1:")


async def test_receiver_down_for_good_gives_up_after_the_retries(
    gateway_core: GatewayCore,
) -> None:
    port = free_port()
    job_id = await finished_job(gateway_core, f"http://127.0.0.1:{port}/hook")
    sender = deliverer(gateway_core)
    await sender.start()
    try:
        await settle(gateway_core, job_id, MAX_ATTEMPTS)
    finally:
        await sender.stop()
    rows = await deliveries(gateway_core, job_id)
    assert [row.attempt for row in rows] == list(range(1, MAX_ATTEMPTS + 1))
    assert not any(row.succeeded for row in rows)
    assert all(row.error and row.error.startswith("cannot connect") for row in rows)
    async with gateway_core.sessions() as session:
        last = (await store.list_logs(session, job_id))[-1]
    assert last.level == "error" and last.message.startswith("WEBHOOK_DELIVERY_FAILED")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_needs_an_explicit_entry(
    gateway_core: GatewayCore, receiver: Receiver, host: str
) -> None:
    url = receiver.url.replace("127.0.0.1", host)
    job_id = await finished_job(gateway_core, url)
    sender = deliverer(gateway_core, patterns=("*",))  # a wildcard does not open loopback
    await sender.start()
    try:
        await settle(gateway_core, job_id, 1)
    finally:
        await sender.stop()
    rows = await deliveries(gateway_core, job_id)
    assert len(rows) == 1 and not rows[0].succeeded  # refused once, never retried
    assert rows[0].error is not None and "loopback" in rows[0].error
    if host == "localhost":  # what an internal name resolves to stays out of the logs
        assert "127.0.0.1" not in rows[0].error and "::1" not in rows[0].error
    assert receiver.requests == []


async def test_cancelled_job_gets_its_webhook_and_deliverers_never_double_send(
    gateway_core: GatewayCore, receiver: Receiver
) -> None:
    request = gateway_core.request(callback_url=receiver.url)
    accepted = await gateway_core.submitter.submit(request, "alice")
    async with gateway_core.sessions() as session:
        assert await transitions.cancel_queued(session, accepted.job_id)
    senders = [deliverer(gateway_core) for _ in range(3)]
    for sender in senders:
        await sender.start()
    try:
        await settle(gateway_core, accepted.job_id, 1)
        await asyncio.sleep(0.2)
    finally:
        for sender in senders:
            await sender.stop()
    assert len(receiver.requests) == 1
    payload = json.loads(receiver.requests[0][0])
    assert (payload["event"], payload["status"]) == ("job.cancelled", "cancelled")
    assert payload["result"] == {"outputs": []}
