"""The worker's span for one attempt of one job, continuing the job's own trace.

The job row carries the ``traceparent`` of the call that created it
(``Job.traceparent``), so this span's parent is that call's span whichever worker,
on whichever machine, runs the job. Attributes name the job, never its inputs:
prompts stay out of traces in every mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from opentelemetry.trace import Span, SpanKind

from comfyui_gateway.tracing.carrier import context_from_traceparent
from comfyui_gateway.tracing.spans import tracer


class TracedJob(Protocol):
    id: str
    workflow_id: str
    attempt: int
    traceparent: str | None

    @property
    def priority(self) -> Any: ...


@contextmanager
def job_span(job: TracedJob, backend_url: str, worker_id: str) -> Iterator[Span]:
    priority = getattr(job.priority, "value", job.priority)
    with tracer().start_as_current_span(
        "job.run",
        context=context_from_traceparent(job.traceparent),
        kind=SpanKind.CONSUMER,
        attributes={
            "job.id": job.id,
            "workflow.id": job.workflow_id,
            "job.attempt": job.attempt,
            "job.priority": str(priority),
            "comfyui.backend": backend_url,
            "worker.id": worker_id,
            "messaging.operation": "process",
        },
    ) as span:
        yield span


@contextmanager
def webhook_span(job: TracedJob, attempt: int) -> Iterator[Span]:
    """A webhook POST about ``job``, in the job's trace (the deliverer runs apart)."""
    with tracer().start_as_current_span(
        "webhook.deliver",
        context=context_from_traceparent(job.traceparent),
        kind=SpanKind.CLIENT,
        attributes={"job.id": job.id, "workflow.id": job.workflow_id, "webhook.attempt": attempt},
    ) as span:
        yield span
