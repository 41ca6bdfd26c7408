"""What workers report about their ComfyUI backends, for /health and /capabilities.

The server never talks to ComfyUI itself (DESIGN.md): each worker probes its backend
and publishes a ``BackendReport``; servers read the latest reports. Reports live in
Redis (shared by every process) or in memory in the embedded single-process mode.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis

from comfyui_gateway.names import (
    BACKEND_REPORT_TTL_S,
    DEFAULT_NAMESPACE,
    backend_catalogues_key,
    backend_reports_key,
)


@dataclass(frozen=True)
class BackendReport:
    """One backend as a worker last saw it."""

    url: str
    reachable: bool
    reported_at: float = field(default_factory=time.time)
    queue_remaining: int = 0
    comfyui_version: str = ""
    models: dict[str, list[str]] = field(default_factory=dict)
    node_classes: list[str] = field(default_factory=list)
    worker_id: str = ""

    def is_fresh(self, now: float | None = None) -> bool:
        return ((now or time.time()) - self.reported_at) <= BACKEND_REPORT_TTL_S

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> BackendReport:
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)


class BackendReports(Protocol):
    """Where reports are published and read.

    The node catalogue (a backend's raw ``/object_info``, ~500 KB) is kept apart from
    the small reports: it changes rarely and is read only to check a workflow.
    """

    async def publish(self, report: BackendReport) -> None: ...

    async def latest(self) -> dict[str, BackendReport]: ...

    async def publish_catalogue(self, url: str, object_info: dict[str, Any]) -> None: ...

    async def catalogue(self, url: str) -> dict[str, Any] | None: ...


class MemoryBackendReports:
    """Reports kept in this process: the embedded mode's store."""

    def __init__(self) -> None:
        self._reports: dict[str, BackendReport] = {}
        self._catalogues: dict[str, dict[str, Any]] = {}

    async def publish(self, report: BackendReport) -> None:
        self._reports[report.url] = report

    async def latest(self) -> dict[str, BackendReport]:
        return dict(self._reports)

    async def publish_catalogue(self, url: str, object_info: dict[str, Any]) -> None:
        self._catalogues[url] = object_info

    async def catalogue(self, url: str) -> dict[str, Any] | None:
        return self._catalogues.get(url)


class RedisBackendReports:
    """Reports in one Redis hash, shared by every server and worker."""

    def __init__(self, redis: Redis, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._key = backend_reports_key(namespace)
        self._catalogue_key = backend_catalogues_key(namespace)

    async def publish(self, report: BackendReport) -> None:
        await self._redis.hset(self._key, report.url, report.to_json())

    async def latest(self) -> dict[str, BackendReport]:
        raw = await self._redis.hgetall(self._key)
        reports = (BackendReport.from_json(value) for value in raw.values())
        return {report.url: report for report in reports}

    async def publish_catalogue(self, url: str, object_info: dict[str, Any]) -> None:
        await self._redis.hset(self._catalogue_key, url, json.dumps(object_info))

    async def catalogue(self, url: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._catalogue_key, url)
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data
