"""Our webhooks verify in the description's own receivers, run by Node unmodified.

- the Express receiver (section 7) checks ``X-Signature`` over the raw body;
- the n8n Code-node snippet re-serialises the parsed body with ``JSON.stringify`` and
  checks that: it passes only because our body is exactly what JavaScript writes.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from comfyui_gateway.db.models import Job, JobOutput
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.webhooks import outbox
from comfyui_gateway.webhooks.deliverer import WebhookDeliverer
from comfyui_gateway.webhooks.jsonjs import js_dumps
from comfyui_gateway.webhooks.payload import encode, webhook_payload
from comfyui_gateway.webhooks.sender import WebhookSender
from tests.delivery_helpers import GatewayCore
from tests.receiver_helpers import ExpressReceiver, js_roundtrip, n8n_check

pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]

SECRET = "your-webhook-secret"  # the n8n snippet has it hard-coded


async def _deliver(core: GatewayCore, url: str, secret: str) -> list[Any]:
    accepted = await core.submitter.submit(core.request(callback_url=url), "alice")
    await core.run_queued()
    deliverer = WebhookDeliverer(
        core.sessions, WebhookSender(secret, ["127.0.0.1"]), retry_base_s=30, poll_s=0.02
    )
    await deliverer.start()
    try:
        async with asyncio.timeout(10):
            while True:
                async with core.sessions() as session:
                    rows = list(await outbox.list_deliveries(session, accepted.job_id))
                if rows[0].delivered_at is not None:
                    return [accepted.job_id, rows]
                await asyncio.sleep(0.05)
    finally:
        await deliverer.stop()


async def test_express_receiver_verifies_a_real_delivery(
    gateway_core: GatewayCore, tmp_path: Path
) -> None:
    with ExpressReceiver(tmp_path, SECRET) as receiver:
        job_id, rows = await _deliver(gateway_core, receiver.url, SECRET)
        assert (rows[0].status_code, rows[0].succeeded) == (200, True)
        output = receiver.wait_for(f"Job {job_id} succeeded!")
        assert "Outputs: 1 files" in output
        assert "FAILED" not in output

        _, rejected = await _deliver(gateway_core, receiver.url, "not-the-secret")
        assert (rejected[0].status_code, rejected[0].succeeded) == (401, False)
        receiver.wait_for("Webhook signature verification FAILED: Signature mismatch")


def _sample_job(metadata: dict[str, Any], error: dict[str, Any] | None = None) -> Job:
    moment = datetime(2025, 1, 15, 10, 30, 0, 123456, tzinfo=UTC)
    return Job(
        id="a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        workflow_id="sdxl_realism_v1",
        owner="alice",
        status=JobStatus.FAILED if error else JobStatus.SUCCEEDED,
        priority=JobPriority.NORMAL,
        job_metadata=metadata,
        error=error,
        created_at=moment,
        started_at=moment,
        completed_at=moment.replace(second=15),
    )


def test_n8n_snippet_accepts_our_signature_on_awkward_payloads() -> None:
    metadata = {
        "requestId": "req_abc123",
        "userId": "user_456",
        "10": "int-like keys come first in JavaScript",
        "2": 2.0,
        "ratio": 0.1 + 0.2,
        "tiny": 1e-7,
        "big": 1.5e21,
        "text": 'Zoë says "hi" \n\t 漢字 🎨 \u2028 \x01',
    }
    output = JobOutput(
        job_id="x",
        filename="ComfyUI_00001_.png",
        stored_name="u.png",
        storage_path="/data/outputs/x/u.png",
        size=1542890,
        sha256="abc123",
        content_type="image/png",
    )
    sender = WebhookSender(SECRET, ["*"])
    for job, outputs in (
        (_sample_job(metadata), [output]),
        (
            _sample_job(
                {}, {"code": "COMFYUI_OOM", "message": "CUDA out of memory", "retryable": False}
            ),
            [],
        ),
    ):
        body = encode(webhook_payload(job, outputs))
        passed, said = n8n_check(body, sender.headers(body))
        assert passed, said
        tampered = body.replace(b"sdxl_realism_v1", b"sdxl_realism_v2")
        passed, said = n8n_check(tampered, sender.headers(body))
        assert not passed and said == "Invalid webhook signature"


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**53), 2**53)
    if kind == 2:
        return rng.choice(
            [
                rng.uniform(-1e6, 1e6),
                rng.random() * 10 ** rng.randint(-12, 25),
                float(rng.randint(0, 99)),
            ]
        )
    if kind in (3, 4):
        alphabet = 'aZ09 "\\/\n\t\x00\x1f\x7fé漢🎨\u2028\u2029'
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    if kind in (5, 6):
        keys = [
            str(rng.randint(0, 300)) if rng.random() < 0.4 else _random_value(rng, 9)
            for _ in range(rng.randint(0, 6))
        ]
        return {str(key): _random_value(rng, depth + 1) for key in keys}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def test_serialisation_equals_json_stringify_on_random_values() -> None:
    rng = random.Random(20250115)
    values = [_random_value(rng) for _ in range(400)]
    ours = [js_dumps(value) for value in values]
    assert js_roundtrip(ours) == ours
    assert all(json.loads(text) is not None or text == "null" for text in ours)
