"""A small process supervisor for ``comfyui-gateway dev``.

Starts each child in order and waits for it to become ready before the next; a
child that exits (or never gets ready) during start-up stops everything with one
clear line and exit code 1, since restarting it would only repeat the failure.
Once everything is up, a child that exits on its own is restarted with a growing
delay, logged; one that keeps dying within seconds of each start is given up on
(again one line, exit 1) rather than restarted forever. SIGTERM/SIGINT stops them
all, during start-up too: SIGTERM first, SIGKILL for any still alive after a grace
period. Children inherit stdout/stderr so their logs show in the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("comfyui_gateway.dev")

ReadyCheck = Callable[[], Awaitable[bool]]

READY_TIMEOUT_S = 120.0
"""Longest a child may take to become ready (generous: machines can be loaded)."""
QUICK_EXIT_S = 10.0
"""An exit this soon after a (re)start counts towards giving up on the child."""
MAX_QUICK_EXITS = 5


@dataclass
class ChildSpec:
    """How to run one child: its name in logs, argv, extra environment, readiness."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: ReadyCheck | None = None
    ready_timeout_s: float = READY_TIMEOUT_S


class Supervisor:
    """Runs children until ``stop()``; see the module docstring."""

    def __init__(
        self,
        children: Sequence[ChildSpec],
        grace_s: float = 10.0,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self._specs = list(children)
        self._grace_s = grace_s
        self._on_ready = on_ready
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._started_at: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._exit_code = 0
        self.restarts: dict[str, int] = {spec.name: 0 for spec in children}

    async def run(self) -> int:
        """Start everything, keep it running, return the exit code once stopped."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        watchers = []
        try:
            if await self._start_all():
                if self._on_ready is not None:
                    self._on_ready()
                watchers = [asyncio.create_task(self._watch(spec)) for spec in self._specs]
                await self._stopping.wait()
        finally:
            await self._terminate_all()
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return self._exit_code

    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping all processes")
            self._stopping.set()

    def _fail(self, message: str, *args: object) -> None:
        """One error line, then stop everything with exit code 1."""
        log.error(message, *args)
        self._exit_code = 1
        self.stop()

    async def _start_all(self) -> bool:
        for spec in self._specs:
            if self._stopping.is_set():
                return False
            await self._start(spec)
            if spec.ready is not None and not await self._wait_ready(spec):
                return False
        return not self._stopping.is_set()

    async def _start(self, spec: ChildSpec) -> None:
        env = {**os.environ, **spec.env}
        process = await asyncio.create_subprocess_exec(*spec.argv, env=env)
        self._processes[spec.name] = process
        self._started_at[spec.name] = time.monotonic()
        log.info("started %s", spec.name, extra={"child": spec.name, "pid": process.pid})

    async def _wait_ready(self, spec: ChildSpec) -> bool:
        """True once ready; False (after saying why) on exit, timeout or stop."""
        assert spec.ready is not None
        process = self._processes[spec.name]
        exited = asyncio.create_task(process.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        ready = asyncio.create_task(self._poll_ready(spec.ready))
        try:
            await asyncio.wait(
                {exited, stopping, ready},
                timeout=spec.ready_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (exited, stopping, ready):
                task.cancel()
            await asyncio.gather(exited, stopping, ready, return_exceptions=True)
        if ready.done() and not ready.cancelled() and ready.exception() is None:
            log.info("%s is ready", spec.name, extra={"child": spec.name})
            return True
        if self._stopping.is_set():
            log.info("stopping while %s was starting", spec.name, extra={"child": spec.name})
        elif process.returncode is not None:
            self._fail(
                "%s exited with code %s before it was ready (its output is above); stopping",
                spec.name,
                process.returncode,
            )
        else:
            self._fail("%s not ready after %gs; stopping", spec.name, spec.ready_timeout_s)
        return False

    @staticmethod
    async def _poll_ready(check: ReadyCheck) -> None:
        while True:
            if await check():
                return
            await asyncio.sleep(0.2)

    async def _watch(self, spec: ChildSpec) -> None:
        delay = 0.5
        quick_exits = 0
        while not self._stopping.is_set():
            process = self._processes[spec.name]
            code = await process.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - self._started_at[spec.name]
            quick_exits = quick_exits + 1 if lived < QUICK_EXIT_S else 0
            if quick_exits >= MAX_QUICK_EXITS:
                self._fail(
                    "%s keeps exiting (code %s, %d times within %.0fs of starting); stopping",
                    spec.name,
                    code,
                    quick_exits,
                    QUICK_EXIT_S,
                )
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
            with contextlib.suppress(ProcessLookupError):
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
