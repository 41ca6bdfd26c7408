"""Metrics: figures from a real (SQLite) jobs table, event counters, and the text format."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from comfyui_gateway.backends import BackendReport, MemoryBackendReports
from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.jobqueue import InProcessJobQueue
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.metrics import (
    MemoryCounters,
    MetricSources,
    catalogue,
    gather_figures,
    render,
)
from comfyui_gateway.metrics.counters import decode_series, encode_series, series_key
from comfyui_gateway.scheduling import QueueEntry

BACKEND = "http://gpu-1:8188"


def job(job_id: str, status: JobStatus, *, ran_s: float, waited_s: float, **extra: object) -> Job:
    now = utcnow()
    created = now - timedelta(seconds=ran_s + waited_s)
    started = created + timedelta(seconds=waited_s)
    values: dict[str, object] = {
        "id": job_id,
        "workflow_id": "icon_512",
        "owner": "anonymous",
        "status": status,
        "priority": JobPriority.NORMAL,
        "inputs": {},
        "inputs_digest": "0" * 64,
        "created_at": created,
        "queued_at": created,
        "attempt": 1,
    }
    if status is not JobStatus.QUEUED:
        values |= {"started_at": started, "backend_url": BACKEND}
    if status.is_terminal:
        values["completed_at"] = now
    values |= extra
    return Job(**values)


async def test_figures_come_from_the_jobs_table(tmp_path: Path) -> None:
    url = str(tmp_path / "metrics.db")
    await migrate(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    async with sessions() as session:
        session.add_all(
            [
                job("a", JobStatus.SUCCEEDED, ran_s=3, waited_s=1, cache_key="k"),
                job("b", JobStatus.FAILED, ran_s=40, waited_s=0.2),
                job("c", JobStatus.RUNNING, ran_s=1, waited_s=0.1),
                job("d", JobStatus.QUEUED, ran_s=0, waited_s=5, priority=JobPriority.HIGH),
                job(
                    "e",
                    JobStatus.SUCCEEDED,
                    ran_s=0,
                    waited_s=0,
                    cache_key="k",
                    cached_from_job_id="a",
                ),
            ]
        )
        await session.commit()
    queue = InProcessJobQueue()
    await queue.enqueue(QueueEntry("d", JobPriority.HIGH, models=("sd15.ckpt", "ink.lora")))
    await queue.enqueue(QueueEntry("f", queued_at=time.time() - 30, models=("sd15.ckpt",)))
    await queue.enqueue(QueueEntry("g"))
    reports = MemoryBackendReports()
    await reports.publish(BackendReport(url=BACKEND, reachable=True, queue_remaining=2))
    counters = MemoryCounters()
    await counters.increment(catalogue.AUTH_FAILURES.name, {"reason": "forbidden"})
    await counters.increment(catalogue.AUTH_FAILURES.name, {"reason": "forbidden"})
    await counters.increment(catalogue.RATE_LIMIT_REJECTIONS.name)
    sources = MetricSources(sessions, queue, reports, counters, backends=("http://gpu-2:8188",))
    try:
        figures = await gather_figures(sources)
    finally:
        await engine.dispose()

    assert figures.jobs_created == {("icon_512",): 5}
    assert figures.jobs_finished == {("icon_512", "succeeded"): 2, ("icon_512", "failed"): 1}
    assert figures.jobs_active == {"queued": 1, "running": 1}
    assert figures.queue_depth == {"high": 1, "normal": 2, "low": 0}
    backlog = figures.model_backlog
    assert {m: b.depth for m, b in backlog.items()} == {"sd15.ckpt": 2, "ink.lora": 1, "none": 1}
    assert 29 < backlog["sd15.ckpt"].oldest_age_s < 60 and backlog["ink.lora"].oldest_age_s < 5
    assert 4 < figures.queue_oldest_age_s["high"] < 60
    assert figures.queue_oldest_age_s["normal"] == 0
    assert (figures.cache_lookups, figures.cache_hits) == (2, 1)
    succeeded = figures.job_duration[("icon_512", "succeeded")]
    assert succeeded.count == 1  # the cache hit ran nothing
    assert 3.5 < succeeded.total < 5
    assert succeeded.buckets[catalogue.DURATION_BUCKETS_S.index(5)] == 1
    assert succeeded.buckets[catalogue.DURATION_BUCKETS_S.index(2.5)] == 0
    failed = figures.job_duration[("icon_512", "failed")]
    assert failed.buckets[-1] == 1 and failed.buckets[catalogue.DURATION_BUCKETS_S.index(30)] == 0
    assert figures.queue_wait[("normal",)].count == 3
    assert figures.comfyui_execution[("icon_512", BACKEND)].count == 1
    assert figures.backends[BACKEND].up and figures.backends[BACKEND].busy
    assert not figures.backends["http://gpu-2:8188"].up

    text = render(figures).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {spec.name for spec in catalogue.ALL} <= set(families)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert samples[("comfyui_gateway_auth_failures_total", (("reason", "forbidden"),))] == 2
    assert samples[("comfyui_gateway_rate_limit_rejections_total", ())] == 1
    assert samples[("comfyui_gateway_cache_hit_ratio", ())] == 0.5
    assert samples[("comfyui_gateway_backend_queue_depth", (("backend", BACKEND),))] == 2
    assert samples[("comfyui_gateway_model_queue_depth", (("model", "sd15.ckpt"),))] == 2
    inf = (("le", "+Inf"), ("status", "failed"), ("workflow", "icon_512"))
    assert samples[("comfyui_gateway_job_duration_seconds_bucket", inf)] == 1


def test_metric_names_follow_prometheus_conventions() -> None:
    names = [spec.name for spec in catalogue.ALL]
    assert len(names) == len(set(names))
    for spec in catalogue.ALL:
        assert spec.name.startswith("comfyui_gateway_")
        assert not spec.name.endswith("_total")  # the exposition adds it to counters
        if spec.kind == "histogram":
            assert spec.name.endswith("_seconds")
        assert "id" not in spec.labels and "job" not in spec.labels  # bounded label sets


def test_series_keys_round_trip_through_redis_fields() -> None:
    key = series_key("comfyui_gateway_auth_failures", {"reason": "forbidden"})
    assert decode_series(encode_series(key)) == key
    assert decode_series(encode_series(encode_key := series_key("x", {}))) == encode_key
