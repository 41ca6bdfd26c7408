"""An RQ worker whose backend is down waits on the monitor's event, so it takes its
first job the moment a probe succeeds — at start-up, and after an outage — instead of
on its next one-second poll (which left a second worker idle for up to a second of a
burst, and the GPU with one prompt queued instead of two). While the backend is down
the monitor probes every second whatever its interval, so that moment comes soon."""

from __future__ import annotations

import asyncio

from comfyui_gateway.backends import BackendReport, MemoryBackendReports
from worker.monitor import BackendMonitor
from worker.rq_worker import reachable_within

URL = "http://gpu1:8188"


class GatedProbe:
    """A backend that stays down until ``open()``: then every probe finds it up."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.probed = asyncio.Event()

    async def __call__(self, url: str) -> BackendReport:
        self.probed.set()
        return BackendReport(url=url, reachable=self.opened.is_set())

    def open(self) -> None:
        self.opened.set()


async def test_a_waiting_worker_wakes_when_the_backend_comes_up() -> None:
    probe = GatedProbe()
    # An hour between probes of a healthy backend: only the quicker re-probe of a down
    # one (DOWN_INTERVAL_S) can find it up within the test's time.
    monitor = BackendMonitor(URL, MemoryBackendReports(), probe=probe, interval_s=3600)
    monitor.start()
    try:
        await probe.probed.wait()  # the first probe found it down
        waiting = asyncio.create_task(reachable_within(monitor, timeout_s=3600))
        await asyncio.sleep(0)
        assert not waiting.done()
        probe.open()
        assert await asyncio.wait_for(waiting, timeout=30) is True
    finally:
        await monitor.stop()


async def test_the_wait_gives_up_after_its_timeout_while_the_backend_stays_down() -> None:
    probe = GatedProbe()
    monitor = BackendMonitor(URL, MemoryBackendReports(), probe=probe, interval_s=3600)
    monitor.start()
    try:
        await probe.probed.wait()
        assert await reachable_within(monitor, timeout_s=0.05) is False
    finally:
        await monitor.stop()
