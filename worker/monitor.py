"""Backend monitor: probes one ComfyUI and publishes a BackendReport periodically.

This is how /health and /capabilities learn about backends without the server ever
calling ComfyUI (DESIGN.md). Workers run one monitor per backend they serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from comfyui_gateway.backends import BackendReport, BackendReports
from worker.probe import BackendProbe

log = logging.getLogger("comfyui_gateway.worker.monitor")

Probe = Callable[[str], Awaitable[BackendReport]]

DEFAULT_INTERVAL_S = 5.0
DOWN_INTERVAL_S = 1.0
"""While the backend is down it is probed this often (at most), so the workers, which
wait for the monitor, resume within a second of ComfyUI coming back."""


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class BackendMonitor:
    """Publishes ``probe(url)`` every ``interval_s`` (every ``DOWN_INTERVAL_S`` while the
    backend is down) until stopped."""

    def __init__(
        self,
        url: str,
        reports: BackendReports,
        *,
        probe: Probe | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.url = url
        self._reports = reports
        self._probe = probe or BackendProbe(url, worker_identity())
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._was_reachable: bool | None = None
        self._up = asyncio.Event()
        self.last_report: BackendReport | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"monitor {self.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def reachable(self) -> bool:
        return self._up.is_set()

    async def wait_reachable(self) -> None:
        """Return once the backend answers: a down backend takes no jobs."""
        await self._up.wait()

    async def check_once(self) -> BackendReport:
        report = await self._probe(self.url)
        self.last_report = report
        if report.reachable:
            self._up.set()
        else:
            self._up.clear()
        await self._reports.publish(report)
        if report.reachable != self._was_reachable:
            level = logging.INFO if report.reachable else logging.WARNING
            state = "reachable" if report.reachable else "unreachable"
            log.log(level, "ComfyUI backend %s is %s", self.url, state, extra={"backend": self.url})
            self._was_reachable = report.reachable
        return report

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # a monitor must outlive any one failed probe
                log.exception("backend probe failed", extra={"backend": self.url})
            up = self.reachable
            await asyncio.sleep(self._interval_s if up else min(self._interval_s, DOWN_INTERVAL_S))
