"""Figures to the Prometheus text exposition format (0.0.4), via prometheus_client.

A fresh registry per scrape holds one collector that yields metric families built
from the figures: nothing is kept between scrapes, so the answer is exactly what the
shared state says now.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from comfyui_gateway import __version__
from comfyui_gateway.metrics import catalogue
from comfyui_gateway.metrics.catalogue import MetricSpec
from comfyui_gateway.metrics.figures import Figures, Histogram, Labels

V = TypeVar("V")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(figures: Figures) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FiguresCollector(figures))
    return generate_latest(registry)


class _FiguresCollector(Collector):
    def __init__(self, figures: Figures) -> None:
        self._f = figures

    def collect(self) -> Iterator[Metric]:
        f = self._f
        yield _gauge(catalogue.INFO, {(__version__,): 1})
        yield _counter(catalogue.JOBS_CREATED, f.jobs_created)
        yield _counter(catalogue.JOBS_FINISHED, f.jobs_finished)
        yield _gauge(catalogue.JOBS_ACTIVE, {(s,): n for s, n in f.jobs_active.items()})
        yield _gauge(catalogue.QUEUE_DEPTH, {(p,): n for p, n in f.queue_depth.items()})
        yield _gauge(catalogue.QUEUE_OLDEST_AGE, {(p,): a for p, a in f.queue_oldest_age_s.items()})
        models = sorted(f.model_backlog.items())
        yield _gauge(catalogue.MODEL_QUEUE_DEPTH, {(m,): b.depth for m, b in models})
        yield _gauge(catalogue.MODEL_QUEUE_OLDEST_AGE, {(m,): b.oldest_age_s for m, b in models})
        yield _histogram(catalogue.JOB_DURATION, f.job_duration)
        yield _histogram(catalogue.QUEUE_WAIT, f.queue_wait)
        yield _histogram(catalogue.COMFYUI_EXECUTION, f.comfyui_execution)
        backends = sorted(f.backends.items())
        yield _gauge(catalogue.BACKEND_UP, {(url,): int(b.up) for url, b in backends})
        yield _gauge(catalogue.BACKEND_BUSY, {(url,): int(b.busy) for url, b in backends})
        yield _gauge(catalogue.BACKEND_QUEUE_DEPTH, {(url,): b.queue_depth for url, b in backends})
        yield _gauge(catalogue.BACKEND_RUNNING, {(url,): b.running_jobs for url, b in backends})
        yield _counter(catalogue.CACHE_LOOKUPS, {(): f.cache_lookups})
        yield _counter(catalogue.CACHE_HITS, {(): f.cache_hits})
        ratio = f.cache_hits / f.cache_lookups if f.cache_lookups else 0.0
        yield _gauge(catalogue.CACHE_HIT_RATIO, {(): ratio})
        yield _counter(
            catalogue.WEBHOOK_DELIVERIES, {(o,): n for o, n in f.webhook_deliveries.items()}
        )
        yield _gauge(catalogue.WEBHOOK_PENDING, {(): f.webhook_pending})
        yield _counter(
            catalogue.RATE_LIMIT_REJECTIONS, _counted(f, catalogue.RATE_LIMIT_REJECTIONS)
        )
        yield _counter(catalogue.AUTH_FAILURES, _counted(f, catalogue.AUTH_FAILURES))
        yield _counter(catalogue.JOBS_FAILED, f.jobs_failed)
        yield _counter(catalogue.ADMISSION_REJECTIONS, _counted(f, catalogue.ADMISSION_REJECTIONS))


def _counted(figures: Figures, spec: MetricSpec) -> dict[Labels, float]:
    """The event counters of ``spec`` (only its declared labels, in their order)."""
    values: dict[Labels, float] = {} if spec.labels else {(): 0}
    for (name, pairs), count in figures.counters.items():
        if name != spec.name:
            continue
        labels = dict(pairs)
        if set(labels) != set(spec.labels):
            continue
        key = tuple(labels[label] for label in spec.labels)
        values[key] = values.get(key, 0) + count
    return values


def _gauge(spec: MetricSpec, values: Mapping[Labels, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    for labels, value in _sorted(values):
        family.add_metric(list(labels), value)
    return family


def _counter(spec: MetricSpec, values: Mapping[Labels, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    for labels, value in _sorted(values):
        family.add_metric(list(labels), value)
    return family


def _histogram(spec: MetricSpec, values: Mapping[Labels, Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    for labels, histogram in _sorted(values):
        buckets = [
            (_bound(bound), float(count))
            for bound, count in zip(histogram.bounds, histogram.buckets, strict=True)
        ]
        buckets.append(("+Inf", float(histogram.count)))
        family.add_metric(list(labels), buckets, histogram.total)
    return family


def _bound(bound: float) -> str:
    return repr(float(bound))


def _sorted(values: Mapping[Labels, V]) -> Iterable[tuple[Labels, V]]:
    return sorted(values.items(), key=lambda item: item[0])
