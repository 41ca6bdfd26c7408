"""A small process supervisor for ``comfyui-gateway dev``.

Starts each child process, restarts one that exits on its own (with a growing
delay, logged), and on SIGTERM/SIGINT stops them all: SIGTERM first, SIGKILL for
any still alive after a grace period. Children inherit stdout/stderr so their logs
show in the terminal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("comfyui_gateway.dev")

ReadyCheck = Callable[[], Awaitable[bool]]


@dataclass
class ChildSpec:
    """How to run one child: its name in logs, argv, and extra environment."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: ReadyCheck | None = None


class Supervisor:
    """Runs children until ``stop()``; see the module docstring."""

    def __init__(self, children: Sequence[ChildSpec], grace_s: float = 10.0) -> None:
        self._specs = list(children)
        self._grace_s = grace_s
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
        self.restarts: dict[str, int] = {spec.name: 0 for spec in children}

    async def run(self) -> None:
        """Start everything, keep it running, return once stopped."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        watchers = []
        for spec in self._specs:
            await self._start(spec)
            if spec.ready is not None:
                await self._wait_ready(spec)
            watchers.append(asyncio.create_task(self._watch(spec)))
        await self._stopping.wait()
        await self._terminate_all()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping all processes")
            self._stopping.set()

    async def _start(self, spec: ChildSpec) -> None:
        env = {**os.environ, **spec.env}
        process = await asyncio.create_subprocess_exec(*spec.argv, env=env)
        self._processes[spec.name] = process
        log.info("started %s", spec.name, extra={"child": spec.name, "pid": process.pid})

    async def _wait_ready(self, spec: ChildSpec, timeout_s: float = 60.0) -> None:
        assert spec.ready is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            if await spec.ready():
                log.info("%s is ready", spec.name, extra={"child": spec.name})
                return
            await asyncio.sleep(0.2)
        log.warning("%s not ready after %ss", spec.name, timeout_s, extra={"child": spec.name})

    async def _watch(self, spec: ChildSpec) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            process = self._processes[spec.name]
            code = await process.wait()
            if self._stopping.is_set():
                return
            self.restarts[spec.name] += 1
            log.error(
                "%s exited with %s; restarting in %.1fs",
                spec.name,
                code,
                delay,
                extra={"child": spec.name, "exitCode": code, "restarts": self.restarts[spec.name]},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            if not self._stopping.is_set():
                await self._start(spec)

    async def _terminate_all(self) -> None:
        alive = [p for p in self._processes.values() if p.returncode is None]
        for process in reversed(alive):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(p.wait() for p in alive)), timeout=self._grace_s
            )
        except TimeoutError:
            for process in alive:
                if process.returncode is None:
                    process.kill()
            await asyncio.gather(*(p.wait() for p in alive))
        log.info("all processes stopped")
