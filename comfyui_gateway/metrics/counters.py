"""Counters for figures that exist only as events (rate-limit rejections, auth failures).

Everything else the gateway reports is derived from the database or the queue at
scrape time; these few happen and leave no row behind, so they are counted as they
happen: in one Redis hash shared by every replica (``names.counters_key``), or in
memory in the embedded single-process mode. Label values are part of the series key,
so callers must only pass bounded values (a status code, never a user id).

Usage::

    await counters.increment(catalogue.RATE_LIMIT_REJECTIONS.name)
    await counters.increment(catalogue.AUTH_FAILURES.name, {"reason": "forbidden"})
    series = await counters.snapshot()   # {("name", (("reason", "forbidden"),)): 3, ...}
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from comfyui_gateway.names import DEFAULT_NAMESPACE, counters_key

log = logging.getLogger("comfyui_gateway.metrics")

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Labels]


def series_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


def encode_series(key: SeriesKey) -> str:
    """The Redis hash field of a series: stable JSON, so any process decodes it."""
    name, labels = key
    return json.dumps([name, [list(pair) for pair in labels]], separators=(",", ":"))


def decode_series(field: str | bytes) -> SeriesKey:
    raw = json.loads(field)
    return str(raw[0]), tuple((str(k), str(v)) for k, v in raw[1])


class Counters(Protocol):
    """Monotonic event counters; ``increment`` never raises (metrics must not fail a call)."""

    async def increment(
        self, name: str, labels: Mapping[str, str] | None = None, amount: int = 1
    ) -> None: ...

    async def snapshot(self) -> dict[SeriesKey, int]: ...


class MemoryCounters:
    """The embedded mode's counters: this process is the whole gateway."""

    def __init__(self) -> None:
        self._counts: Counter[SeriesKey] = Counter()

    async def increment(
        self, name: str, labels: Mapping[str, str] | None = None, amount: int = 1
    ) -> None:
        self._counts[series_key(name, labels or {})] += amount

    async def snapshot(self) -> dict[SeriesKey, int]:
        return dict(self._counts)


class RedisCounters:
    """Counters in one Redis hash (``HINCRBY``), shared by every server and worker."""

    def __init__(self, redis: Redis, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._key = counters_key(namespace)

    async def increment(
        self, name: str, labels: Mapping[str, str] | None = None, amount: int = 1
    ) -> None:
        try:
            await self._redis.hincrby(
                self._key, encode_series(series_key(name, labels or {})), amount
            )
        except RedisError:  # a lost increment beats a failed request
            log.warning("could not increment counter %s", name)

    async def snapshot(self) -> dict[SeriesKey, int]:
        raw = await self._redis.hgetall(self._key)
        return {decode_series(field): int(value) for field, value in raw.items()}
