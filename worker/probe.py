"""One look at a ComfyUI backend: reachable? version, queue depth, nodes and models.

Used by the backend monitor. A refused connection, a timeout or a 5xx means
"unreachable" (a ComfyUI still starting answers exactly like that). The node
catalogue comes from ``/object_info`` (about 500 KB), so it is fetched once, then
every ``CATALOGUE_REFRESH_S``; the raw answer is published for workflow checks and a
summary (``worker.comfyui.summarise``) goes into the report.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from comfyui_gateway.backends import BackendReport, BackendReports
from worker.comfyui import BackendCatalogue, summarise

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5)
CATALOGUE_TIMEOUT = aiohttp.ClientTimeout(total=30)
CATALOGUE_REFRESH_S = 60.0


class BackendProbe:
    """Probes one backend; keeps its catalogue summary between calls."""

    def __init__(
        self, url: str, worker_id: str = "", reports: BackendReports | None = None
    ) -> None:
        self.url = url
        self._worker_id = worker_id
        self._reports = reports
        self._catalogue: BackendCatalogue | None = None
        self._fetched_at = 0.0

    async def __call__(self, url: str | None = None) -> BackendReport:
        try:
            async with aiohttp.ClientSession(timeout=PROBE_TIMEOUT) as session:
                stats = await _get_json(session, f"{self.url}/system_stats")
                queue = await _get_json(session, f"{self.url}/queue")
                if self._catalogue is None or self._stale():
                    await self._refresh_catalogue(session)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self._catalogue = None
            return BackendReport(url=self.url, reachable=False, worker_id=self._worker_id)
        catalogue = self._catalogue or BackendCatalogue(frozenset())
        return BackendReport(
            url=self.url,
            reachable=True,
            queue_remaining=len(queue.get("queue_running", []))
            + len(queue.get("queue_pending", [])),
            comfyui_version=str(stats.get("system", {}).get("comfyui_version", "")),
            models={folder: list(names) for folder, names in catalogue.models.items()},
            node_classes=sorted(catalogue.node_classes),
            worker_id=self._worker_id,
        )

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > CATALOGUE_REFRESH_S

    async def _refresh_catalogue(self, session: aiohttp.ClientSession) -> None:
        info = await _get_json(session, f"{self.url}/object_info", CATALOGUE_TIMEOUT)
        self._catalogue = summarise(info)
        self._fetched_at = time.monotonic()
        if self._reports is not None:
            await self._reports.publish_catalogue(self.url, info)


async def _get_json(
    session: aiohttp.ClientSession, url: str, limit: aiohttp.ClientTimeout = PROBE_TIMEOUT
) -> dict[str, Any]:
    async with session.get(url, timeout=limit) as response:
        if response.status >= 500:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message="server error"
            )
        body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return body


async def probe_backend(url: str) -> BackendReport:
    """A one-off probe (no catalogue kept between calls)."""
    return await BackendProbe(url)(url)
