"""Running one job on one ComfyUI backend, from ``queued`` to a terminal state.

    load job ─▶ mark running (conditional) ─▶ upload media inputs to this backend ─▶
    submit + follow (events published) ─▶
    stream each output into storage (sha256) ─▶ succeeded + outputs (one transaction)

Nothing on that path waits for bookkeeping it does not need: log lines and progress go
through a ``JobJournal`` (written in the background, the rest with the success) and
live events through an ``EventPublisher`` (queued, pipelined, flushed at the end).

Failures end the job with their SPEC code; a retryable one (COMFYUI_UNREACHABLE) goes
back to the queue after a backoff until ``max_attempts``. A heartbeat task keeps
``heartbeat_at`` fresh and notices a cancellation request, which it carries to
ComfyUI (delete if pending, interrupt if executing and ours).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.errors import ComfyUIError, ComfyUINodeError, ErrorCode, GatewayError
from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobs import store, transitions
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.views import output_view
from comfyui_gateway.logs import correlation_id, log_fields
from comfyui_gateway.outputs.pipeline import job_policy
from comfyui_gateway.outputs.previews import shrink_preview
from comfyui_gateway.privacy import Privacy
from comfyui_gateway.scheduling.entry import entry_for_job
from comfyui_gateway.storage.base import Storage
from comfyui_gateway.tracing import (
    child_span,
    context_from_traceparent,
    job_span,
    mark_error,
    tracer,
)
from worker.collect import collect_and_succeed
from worker.comfyui import (
    ComfyUIClient,
    Event,
    NodeStarted,
    Outcome,
    OutputRef,
    PreviewImage,
    StepProgress,
)
from worker.inputs import InputDelivery
from worker.journal import JobJournal
from worker.publisher import EventPublisher

log = logging.getLogger("comfyui_gateway.worker.runner")

PROMPT_ID_NAMESPACE = uuid.UUID("6f1c9d3e-2b7a-4c1e-9a53-0c2f4e8b7d11")
"""uuid5 namespace: a job's prompt id on ComfyUI is derived from (job id, attempt), so
recovery can look the prompt up in ComfyUI's history."""

JobFinished = Callable[[str], Awaitable[None]]
RERUN_CODES = frozenset({ErrorCode.COMFYUI_UNREACHABLE, ErrorCode.OUTPUT_NOT_FOUND})
"""Failures after which the job goes back to the queue (until ``max_attempts``)."""


def prompt_id_for(job_id: str, attempt: int) -> str:
    return str(uuid.uuid5(PROMPT_ID_NAMESPACE, f"{job_id}:{attempt}"))


@dataclass(frozen=True)
class RunnerConfig:
    worker_id: str
    heartbeat_s: float = 1.0
    progress_write_s: float = 0.5
    retry_backoff_s: float = 2.0
    cache_ttl_s: int = 0
    """Seconds a success answers identical requests (0: caching off)."""
    strip_metadata: bool = False
    """Remove prompt/workflow metadata from stored outputs (privacy mode, OUTPUT_METADATA)."""


class JobRunner:
    """Runs jobs on one backend; one instance per (worker, backend), reused for every job."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: ComfyUIClient,
        storage: Storage,
        bus: EventBus,
        queue: JobQueue,
        config: RunnerConfig,
        on_finished: JobFinished | None = None,
        privacy: Privacy | None = None,
        claim_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._sessions = sessions
        self._claim_sessions = claim_sessions or sessions
        """The claim is one ``UPDATE ... RETURNING``: autocommit sessions run it in one
        round trip on PostgreSQL, not three (``create_autocommit_session_factory``)."""
        self._client = client
        self._storage = storage
        self._bus = bus
        self._queue = queue
        self._config = config
        self._on_finished = on_finished
        self._privacy = privacy or Privacy(enabled=False)
        self._inputs = InputDelivery(sessions, storage, client)

    @property
    def backend_url(self) -> str:
        return self._client.base_url

    async def run(self, job_id: str) -> None:
        """Run ``job_id`` if it is still queued; never raises for a job's own failure."""
        token = correlation_id.set(job_id)
        try:
            claim_started_ns = time.time_ns()
            job = await self._claim(job_id)
            if job is not None:
                _claim_span(job, claim_started_ns)
                with job_span(job, self.backend_url, self._config.worker_id):
                    await _JobExecution(self, job).execute()
        finally:
            correlation_id.reset(token)

    async def _claim(self, job_id: str) -> Job | None:
        """queued -> running: one conditional ``UPDATE ... RETURNING``, one commit."""
        async with self._claim_sessions() as session:
            job = await transitions.claim_queued(
                session, job_id, worker_id=self._config.worker_id, backend_url=self.backend_url
            )
            if job is None:
                await session.rollback()
                await _explain_skip(session, job_id)
                return None
            await session.commit()
            return job


def _claim_span(job: Job, started_ns: int) -> None:
    """``worker.claim`` in the job's trace, beside ``job.run`` (the trace is known only
    once the row is read, so the span is recorded after the fact)."""
    span = tracer().start_span(
        "worker.claim",
        context=context_from_traceparent(job.traceparent),
        start_time=started_ns,
        attributes={"job.id": job.id, "job.attempt": job.attempt},
    )
    span.end()


async def _explain_skip(session: AsyncSession, job_id: str) -> None:
    """Log why a job id this worker was handed is not run (cold path: a lost claim)."""
    try:
        job = await store.get_job(session, job_id)
    except GatewayError:
        log.warning("job %s not found; skipped", job_id)
        return
    log.info("job %s is %s; skipped", job_id, job.status.value)


class _JobExecution:
    """One attempt of one job (internal to JobRunner)."""

    def __init__(self, runner: JobRunner, job: Job) -> None:
        self.r = runner
        self.job = job
        self.attempt = job.attempt
        self.journal = JobJournal(runner._sessions, job.id, job.attempt)
        self.events = EventPublisher(runner._bus, job.id)
        self.prompt_id = prompt_id_for(job.id, job.attempt)
        self.progress = 0.0
        self._last_progress_write = 0.0
        self._cancel_sent = False
        self._step = (0, 0)
        """The latest sampler step (value, max), stamped on preview frames."""
        self.outcome = "unfinished"  # how this attempt ended, for ``_log_end``

    def _fields(self, **more: Any) -> dict[str, Any]:
        return log_fields(
            jobId=self.job.id,
            workflowId=self.job.workflow_id,
            backend=self.r.backend_url,
            attempt=self.attempt,
            **more,
        )

    def _log_end(self, started: float) -> None:
        """One line per attempt end, so a user can tell which worker ran what and how."""
        seconds = time.monotonic() - started
        log.info(
            "job %s %s on %s (attempt %d, %.2fs)",
            self.job.id,
            self.outcome,
            self.r.backend_url,
            self.attempt,
            seconds,
            extra=self._fields(outcome=self.outcome, durationMs=round(seconds * 1000, 1)),
        )

    async def execute(self) -> None:
        started = time.monotonic()
        log.info(
            "job %s started on %s (attempt %d)",
            self.job.id,
            self.r.backend_url,
            self.attempt,
            extra=self._fields(),
        )
        self._publish(EventType.STATUS, status=JobStatus.RUNNING.value)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            graph = json.loads(self.r._privacy.open_graph(self.job.prompt_graph or "{}"))
            # Submit first: the GPU starts while the bookkeeping below is written.
            try:
                with child_span("comfyui.submit", {"comfyui.prompt_id": self.prompt_id}):
                    graph = await self._submit(graph)
            except BaseException:
                self.journal.log("info", self._start_line())
                raise
            self._record_start()
            result = await self.r._client.wait(self.prompt_id, graph=graph, on_event=self._on_event)
            # The heartbeat keeps running while outputs are stored: a long download must
            # not look like a dead worker to the reconciler.
            if result.outcome is Outcome.SUCCEEDED:
                await self._succeed(result.outputs, started)
            else:
                await self._finish(JobStatus.CANCELLED, None, "Cancelled on ComfyUI")
        except ComfyUIError as error:
            await self._fail(error)
        except GatewayError as error:
            await self._fail(error)
        except Exception:  # a bug must not leave the job running forever
            log.exception("job %s crashed in the worker", self.job.id)
            await self._fail(GatewayError("Internal error in the worker"))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.journal.close()
            await self.events.flush()
            self._log_end(started)
        if self.r._on_finished is not None:
            await self.r._on_finished(self.job.id)

    async def _submit(self, graph: dict[str, Any]) -> dict[str, Any]:
        """Upload the job's inputs, then ``POST /prompt``; returns the graph as sent.

        A backend that lost files we uploaded earlier (its input folder was emptied)
        refuses the prompt in validation: upload again, once, and resubmit.
        """
        sent = await self.r._inputs.deliver(self.job.id, graph)
        try:
            await self.r._client.submit(sent, prompt_id=self.prompt_id)
        except ComfyUINodeError:
            if not self.r._inputs.knows_any:
                raise
            self.r._inputs.forget()
            sent = await self.r._inputs.deliver(self.job.id, graph)
            await self.r._client.submit(sent, prompt_id=self.prompt_id)
        return sent

    # -- progress ----------------------------------------------------------------------

    async def _on_event(self, event: Event) -> None:
        """Events and log lines are queued, never awaited: the follow loop does not wait
        for the database or the broker (``JobJournal``, ``EventPublisher``)."""
        self.progress = max(self.progress, min(event.progress, 99.0))
        if isinstance(event, NodeStarted):
            node_type = event.node_type or ""
            self._publish(EventType.NODE, node=event.node, node_type=node_type)
            self.journal.log("info", f"Node {event.node} ({node_type or 'unknown'}) started")
        elif isinstance(event, StepProgress):
            self._step = (event.value, event.max)
            self._publish(
                EventType.PROGRESS, node=event.node, step=event.value, max_steps=event.max
            )
        elif isinstance(event, PreviewImage):
            if self.job.previews:
                await self._publish_preview(event)
            return
        now = time.monotonic()
        if now - self._last_progress_write >= self.r._config.progress_write_s:
            self._last_progress_write = now
            self.journal.record(progress=self.progress)

    async def _publish_preview(self, event: PreviewImage) -> None:
        """One shrunk frame on the bus (never the database); undecodable ones are dropped."""
        frame = await asyncio.to_thread(shrink_preview, event.data)
        if frame is None:
            return
        step, total = self._step
        if event.ahead_of_progress:  # this frame's own progress message comes next
            step = min(step + 1, total) if total else step + 1
        self._publish(
            EventType.PREVIEW,
            node=event.node or "",
            step=step,
            max_steps=total,
            preview={
                "contentType": frame.content_type,
                "data": base64.b64encode(frame.data).decode("ascii"),
                "width": frame.width,
                "height": frame.height,
            },
        )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.r._config.heartbeat_s)
            async with self.r._sessions() as session:
                cancel_requested = await store.running_controls(session, self.job.id)
                await transitions.record_running_state(session, self.job.id, attempt=self.attempt)
            if cancel_requested and not self._cancel_sent:
                self._cancel_sent = True
                outcome = await self.r._client.cancel(self.prompt_id)
                self.journal.log("info", f"Cancellation sent to ComfyUI ({outcome.value})")

    # -- endings -----------------------------------------------------------------------

    async def _succeed(self, refs: tuple[OutputRef, ...], started: float) -> None:
        def final_lines(outputs: list[JobOutput]) -> list[str]:
            elapsed_ms = int((time.monotonic() - started) * 1000)
            return [f"Outputs stored: {len(outputs)} file(s)", f"Succeeded in {elapsed_ms} ms"]

        # What the journal still holds commits with the success (one transaction).
        lines, values = await self.journal.take()
        try:
            outputs = await collect_and_succeed(
                sessions=self.r._sessions,
                client=self.r._client,
                storage=self.r._storage,
                job_id=self.job.id,
                attempt=self.attempt,
                refs=refs,
                cache_ttl_s=self.r._config.cache_ttl_s,
                on_stored=self._on_stored,
                log_lines=final_lines,
                policy=job_policy(self.job.output_format, strip=self.r._config.strip_metadata),
                earlier_lines=lines,
                running_values=values,
                has_callback=bool(self.job.callback_url),
                cacheable=bool(self.job.cache_key),
            )
        except BaseException:
            self.journal.put_back(lines, values)
            raise
        if outputs is None:
            self.journal.put_back(lines, {})
            self.outcome = "ended elsewhere"
            return
        self.outcome = "succeeded"
        self._publish(
            EventType.TERMINAL,
            status=JobStatus.SUCCEEDED.value,
            progress=100.0,
            outputs=[output_view(output) for output in outputs],
        )

    async def _on_stored(self, filename: str) -> None:
        self._publish(EventType.OUTPUT, message=f"Stored {filename}")

    async def _fail(self, error: GatewayError) -> None:
        mark_error(error.code.value, error.message)
        # Only an unreachable backend, or outputs that vanished before they were
        # collected (ComfyUI restarted and lost them), are retried here: running again
        # can succeed. A timeout or a node error would most likely repeat, and the job's
        # error tells the caller whether to retry.
        if error.code in RERUN_CODES and self.attempt < self.job.max_attempts:
            await self._retry(error)
            return
        await self._finish(JobStatus.FAILED, error.to_job_error(), f"Failed: {error.code.value}")

    async def _retry(self, error: GatewayError) -> None:
        delay = self.r._config.retry_backoff_s * (2 ** (self.attempt - 1))
        self.outcome = f"will retry ({error.code.value})"
        self.journal.log("warn", f"{error.code.value}: {error.message}; retrying in {delay:.0f}s")
        await self.journal.flush()
        await asyncio.sleep(delay)
        async with self.r._sessions() as session:
            if not await transitions.requeue(session, self.job.id, attempt=self.attempt):
                return
        await self.r._queue.enqueue(entry_for_job(self.job, self.r._privacy))
        self._publish(EventType.STATUS, status=JobStatus.QUEUED.value)

    async def _finish(self, status: JobStatus, error: dict[str, Any] | None, line: str) -> None:
        async with self.r._sessions() as session:
            won = await transitions.finish(
                session, self.job.id, attempt=self.attempt, status=status, error=error
            )
        if not won:
            self.outcome = "ended elsewhere"
            return
        self.outcome = status.value + (f" ({error['code']})" if error else "")
        detail = f" - {error['message']}" if error else ""
        self.journal.log("error" if error else "info", f"{line}{detail}")
        await self.journal.flush()  # whoever sees the terminal event finds the line
        self._publish(EventType.TERMINAL, status=status.value, error=error)

    # -- plumbing ----------------------------------------------------------------------

    def _start_line(self) -> str:
        return f"Started on backend {self.r.backend_url} (attempt {self.attempt})"

    def _record_start(self) -> None:
        """The prompt id and the start lines, written while ComfyUI runs the prompt."""
        lines = [self._start_line(), f"ComfyUI prompt id {self.prompt_id}"]
        self.journal.logs("info", lines)
        self.journal.record(comfy_prompt_id=self.prompt_id)

    def _publish(self, kind: EventType, **fields: Any) -> None:
        """Queue one event; ``EventPublisher`` sends it in order, best effort."""
        fields.setdefault("status", JobStatus.RUNNING.value)
        fields.setdefault("progress", self.progress)
        self.events.post(JobEvent(type=kind, job_id=self.job.id, **fields))
