"""The delivery loop: due outbox rows -> signed POSTs -> recorded outcomes and retries.

Runs as an asyncio task beside the workers (never in a job slot): in the API process
in embedded mode, in every worker process in the Redis mode. Several deliverers may
run at once; the outbox's claim makes each attempt go out once.

Retries: up to ``MAX_ATTEMPTS`` (the first try and 3 retries), waiting
``WEBHOOK_RETRY_BASE_MS * 2**(n-1)`` scaled by a random factor in [0.5, 1.5) before
retry ``n`` (exponential backoff with jitter, so receivers coming back are not hit by
every gateway at once). Each attempt is a row of ``webhook_deliveries`` and a line in
the job's logs, which its owner reads at ``GET /jobs/{id}/logs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.errors import GatewayError
from comfyui_gateway.jobs import store
from comfyui_gateway.tracing import mark_error, webhook_span
from comfyui_gateway.webhooks import outbox
from comfyui_gateway.webhooks.payload import encode, webhook_payload
from comfyui_gateway.webhooks.sender import SendResult, WebhookSender

log = logging.getLogger("comfyui_gateway.webhooks")

MAX_ATTEMPTS = 4
"""The first POST and 3 retries."""
FAILED_CODE = "WEBHOOK_DELIVERY_FAILED"
"""How the description names a failed delivery in logs."""


def backoff_s(retry: int, base_s: float, rng: random.Random) -> float:
    """Delay before retry number ``retry`` (1-based): exponential, with jitter."""
    return float(base_s * (2 ** (retry - 1)) * rng.uniform(0.5, 1.5))


def shown_url(url: str) -> str:
    """The URL without credentials or query string (they may hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookDeliverer:
    """Polls the outbox every ``poll_s`` and delivers what is due."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: WebhookSender,
        *,
        retry_base_s: float,
        poll_s: float = 0.5,
        max_attempts: int = MAX_ATTEMPTS,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._retry_base_s = retry_base_s
        self._poll_s = poll_s
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._sender.start()
        self._task = asyncio.create_task(self._loop(), name="webhook deliverer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._sender.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("webhook delivery round failed")
            await asyncio.sleep(self._poll_s)

    async def deliver_due(self) -> int:
        """Claim and send every due attempt once; how many were sent."""
        async with self._sessions() as session:
            due = await outbox.claim_due(session)
        await asyncio.gather(*(self._deliver(attempt) for attempt in due))
        return len(due)

    async def _deliver(self, attempt: outbox.DueAttempt) -> None:
        try:
            async with self._sessions() as session:
                job = await store.get_job(session, attempt.job_id)
                outputs = await store.list_outputs(session, job.id)
            body = encode(webhook_payload(job, outputs))
        except GatewayError as exc:
            result = SendResult(None, f"cannot build the payload: {exc.message}", permanent=True)
        else:
            with webhook_span(job, attempt.attempt) as span:
                result = await self._sender.send(attempt.url, body)
                span.set_attribute("webhook.delivered", result.delivered)
                if result.status_code is not None:
                    span.set_attribute("http.response.status_code", result.status_code)
                if not result.delivered:
                    mark_error(FAILED_CODE, result.error or "", span)
        retry_in = self._retry_delay(attempt, result)
        async with self._sessions() as session:
            await outbox.record_outcome(
                session,
                attempt,
                status_code=result.status_code,
                error=result.error,
                retry_in_s=retry_in,
                log_line=self._log_line(attempt, result, retry_in),
            )

    def _retry_delay(self, attempt: outbox.DueAttempt, result: SendResult) -> float | None:
        if result.delivered or result.permanent or attempt.attempt >= self._max_attempts:
            return None
        return backoff_s(attempt.attempt, self._retry_base_s, self._rng)

    def _log_line(
        self, attempt: outbox.DueAttempt, result: SendResult, retry_in: float | None
    ) -> tuple[str, str]:
        where = f"{shown_url(attempt.url)} (attempt {attempt.attempt})"
        if result.delivered:
            return "info", f"Webhook delivered to {where}: HTTP {result.status_code}"
        if retry_in is not None:
            return "warn", f"Webhook to {where} failed: {result.error}; retrying in {retry_in:.1f}s"
        log.warning("%s: %s %s", FAILED_CODE, where, result.error, extra={"jobId": attempt.job_id})
        return "error", f"{FAILED_CODE}: webhook to {where} gave up: {result.error}"
