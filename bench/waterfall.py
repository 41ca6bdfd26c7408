"""(f) Where one job's time goes: a per-stage waterfall from the gateway's own traces.

The stack exports OTLP/HTTP to an in-bench receiver (``tests/otlp_receiver.py``) with a
short batch delay. One job (after a warm-up) is submitted with a client ``traceparent``
that the SSE stream and the output download carry too, so every span of the job —
server, worker, ComfyUI calls, storage — lands in one trace. Each span is printed at
its start offset from the client's ``POST /jobs`` with its duration, ordered by start,
indented by parentage; spans added later simply appear. Below it, the issue's stages
are mapped to the spans that cover them (or the gaps between them), naming any stage
no span covers yet, for that job and as the median over ``BENCH_WATERFALL_JOBS`` (20)
more. The baseline is the job's whole client-side time.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import time
from dataclasses import dataclass

import aiohttp

from bench.common import (
    MODES,
    SMALL_INPUTS,
    WORKFLOW,
    ZERO_STEP_TIME,
    Figure,
    Mode,
    heading,
    record,
    running_stack,
)
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

CREATE_SPAN = "comfyui_gateway.v1.JobService/CreateJob"
JOBS = int(os.environ.get("BENCH_WATERFALL_JOBS", "20"))
"""Jobs traced after the printed one: one job's spans move by milliseconds run to run on
this machine, so each stage is printed again as its median over all of them."""
RUN_SPAN = "job.run"

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admission (auth, rate limit)", ("admission",)),
    ("validation + render", ("job.prepare",)),
    ("back-pressure check", ("admission.queue",)),
    ("quota reservation", ("admission.quota",)),
    ("insert", ("job.store",)),
    ("enqueue", ("queue.enqueue",)),
    ("ETA + queue position", ("job.eta",)),
    ("pick-up", ("worker.claim",)),
    ("POST /prompt", ("comfyui.submit", "comfyui POST /prompt")),
    ("WS follow", ("comfyui.follow",)),
    ("completion", ("comfyui.complete", "comfyui GET /history/{prompt_id}")),
    ("output fetch", ("outputs.fetch", "comfyui GET /view")),
    ("storage write", ("storage.save",)),
    ("success transaction", ("job.succeed",)),
    ("event publish", ("events.publish",)),
)
"""Issue 13's stages, each with the span names that measure it (first found wins)."""


StageRow = tuple[str, float | None, float | None]
"""(stage, start ms from the client's ``POST /jobs``, duration ms); None: no span yet."""


@dataclass(frozen=True)
class ClientMarks:
    """Wall-clock nanoseconds the client saw: sent, 202, terminal event, bytes in hand."""

    sent: int
    accepted: int
    terminal: int
    downloaded: int


async def _one_job(base_url: str, trace_id: str) -> ClientMarks:
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    body = {"workflowId": WORKFLOW, "inputs": {**SMALL_INPUTS, "seed": secrets.randbelow(10**6)}}
    async with aiohttp.ClientSession(headers=headers) as session:
        sent = time.time_ns()
        async with session.post(f"{base_url}/jobs", json=body) as response:
            job_id = (await response.json())["jobId"]
        accepted = time.time_ns()
        async with session.get(f"{base_url}/jobs/{job_id}/events") as stream:
            async for line in stream.content:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event["type"] == "terminal":
                        break
        terminal = time.time_ns()
        for output in event["outputs"]:
            async with session.get(f"{base_url}{output['url']}") as response:
                await response.read()
        return ClientMarks(sent, accepted, terminal, time.time_ns())


def _print_spans(spans: list[ReceivedSpan], origin: int) -> None:
    by_id = {span.span_id: span for span in spans}

    def depth(span: ReceivedSpan) -> int:
        parent = by_id.get(span.parent_id)
        return 0 if parent is None else depth(parent) + 1

    print(f"  {'start ms':>9s} {'dur ms':>8s}  span [service]")
    for span in sorted(spans, key=lambda span: (span.start_ns, -span.end_ns)):
        offset = (span.start_ns - origin) / 1e6
        duration = (span.end_ns - span.start_ns) / 1e6
        service = span.service.removeprefix("comfyui-gateway-")
        print(f"  {offset:9.2f} {duration:8.2f}  {'  ' * depth(span)}{span.name} [{service}]")


def _first(spans: list[ReceivedSpan], names: tuple[str, ...]) -> ReceivedSpan | None:
    for name in names:
        found = [span for span in spans if span.name == name]
        if found:
            return min(found, key=lambda span: span.start_ns)
    return None


def _stage_rows(spans: list[ReceivedSpan], marks: ClientMarks) -> list[StageRow]:
    """(stage, start ms from ``POST /jobs``, duration ms) for each of issue 13's stages;
    None where no span covers the stage."""
    origin = marks.sent
    rows: list[StageRow] = []
    create = _first(spans, (CREATE_SPAN,))
    run = _first(spans, (RUN_SPAN,))
    if create is not None:
        rows.append(("REST -> gRPC (client to server span)", 0.0, (create.start_ns - origin) / 1e6))
    for stage, names in STAGES:
        span = _first(spans, names)
        if span is None:
            rows.append((stage, None, None))
        else:
            rows.append(
                (stage, (span.start_ns - origin) / 1e6, (span.end_ns - span.start_ns) / 1e6)
            )
    enqueue = _first(spans, ("queue.enqueue",))
    if enqueue is not None and run is not None:
        gap = (run.start_ns - enqueue.end_ns) / 1e6
        rows.append(("enqueue end -> job.run start", (enqueue.end_ns - origin) / 1e6, gap))
    if run is not None:
        delivery = (marks.terminal - run.end_ns) / 1e6
        rows.append(("SSE delivery (job.run end -> client)", (run.end_ns - origin) / 1e6, delivery))
    rows.append(
        (
            "client: output GET",
            (marks.terminal - origin) / 1e6,
            (marks.downloaded - marks.terminal) / 1e6,
        )
    )
    rows.append(("client: whole job", 0.0, (marks.downloaded - origin) / 1e6))
    return rows


def _print_stages(rows: list[StageRow], header: str) -> None:
    print(f"  {header:40s} {'start ms':>9s} {'dur ms':>8s}")
    for stage, start, duration in rows:
        if start is None or duration is None:
            print(f"  {stage:40s} {'-':>9s} {'-':>8s}  (no span yet)")
        else:
            print(f"  {stage:40s} {start:9.2f} {duration:8.2f}")


def _median_rows(
    runs: list[list[StageRow]],
) -> list[StageRow]:
    """Per stage, the median start and duration over the jobs where a span covered it."""
    rows: list[StageRow] = []
    for index, (stage, _, _) in enumerate(runs[0]):
        starts = [start for start in (run[index][1] for run in runs) if start is not None]
        durations = [took for took in (run[index][2] for run in runs) if took is not None]
        if not starts or not durations:
            rows.append((stage, None, None))
        else:
            rows.append((stage, statistics.median(starts), statistics.median(durations)))
    return rows


def _traced_job(base_url: str, receiver: OtlpReceiver) -> tuple[ClientMarks, list[ReceivedSpan]]:
    """One job under a trace of its own: what the client saw, and every span of it."""
    trace_id = secrets.token_hex(16)
    marks = asyncio.run(_one_job(base_url, trace_id))
    return marks, receiver.wait_for(trace_id, {CREATE_SPAN, RUN_SPAN})


def _traced_rows(base_url: str, receiver: OtlpReceiver) -> list[StageRow]:
    marks, spans = _traced_job(base_url, receiver)
    return _stage_rows(spans, marks)


def _measure(mode: Mode) -> None:
    with OtlpReceiver() as receiver:
        env = {
            **ZERO_STEP_TIME,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        with running_stack(env, mode) as stack:
            for _ in range(3):  # warm every path first
                asyncio.run(_one_job(stack.base_url, secrets.token_hex(16)))
            marks, spans = _traced_job(stack.base_url, receiver)
            more = [_traced_rows(stack.base_url, receiver) for _ in range(JOBS)]
    print(f"-- {mode.name}: one job, trace {spans[0].trace_id if spans else '-'}")
    _print_spans(spans, marks.sent)
    rows = _stage_rows(spans, marks)
    _print_stages(rows, "stage (this job)")
    _print_stages(_median_rows([rows, *more]), f"stage (median of {JOBS + 1} jobs)")
    total = (marks.downloaded - marks.sent) / 1e6
    record(
        Figure(
            "waterfall",
            mode.name,
            "one job, 202 (client)",
            (marks.accepted - marks.sent) / 1e6,
            "ms",
            baseline=total,
            baseline_name="whole job",
        )
    )


def run() -> None:
    heading("(f) per-stage waterfall of one job (zero step time), offsets from POST /jobs")
    for mode in MODES:
        _measure(mode)
