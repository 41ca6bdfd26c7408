"""The emulator as a server you can start and stop: in-process for tests, or from the CLI.

Usage::

    async with Emulator(EmulatorConfig(step_ms=5)) as emulator:
        url = emulator.base_url          # http://127.0.0.1:<port>
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from comfyui_emulator import api_files, api_info, api_prompt, api_ws
from comfyui_emulator.api_prompt import STATE
from comfyui_emulator.catalogue import Catalogue
from comfyui_emulator.config import EmulatorConfig
from comfyui_emulator.executor import Executor
from comfyui_emulator.hub import Hub
from comfyui_emulator.prompt_queue import PromptQueue
from comfyui_emulator.state import State
from comfyui_emulator.storage import Storage
from comfyui_emulator.validation import PromptValidator, file_exists

log = logging.getLogger("comfyui_emulator")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@web.middleware
async def origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ComfyUI's guard against web pages posting to a local server: Origin must match Host."""
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host is not None and origin is not None:
        host_domain = host.lower()
        parsed = urllib.parse.urlparse(origin)
        origin_domain: str | None = parsed.netloc.lower()
        host_parsed = urllib.parse.urlsplit("//" + host_domain)
        loopback = _is_loopback(host_parsed.hostname)
        host_cmp: str | None = host_domain
        if parsed.port is None:
            host_cmp = host_parsed.hostname
        if host_parsed.port is None:
            origin_domain = parsed.hostname
        if loopback and host_cmp and origin_domain and host_cmp != origin_domain:
            log.warning(
                "request with non matching host and origin %s != %s, returning 403",
                host_cmp,
                origin_domain,
            )
            return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class Emulator:
    """One emulated ComfyUI server.

    ``start()`` returns once the port is known; with a start-up delay the port refuses
    connections until ``wait_ready()`` would return, as a real ComfyUI does while loading.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.storage = Storage(self.config.base_dir)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._state: State | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> State:
        assert self._state is not None, "start() first"
        return self._state

    async def __aenter__(self) -> Emulator:
        await self.start()
        await self.wait_ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def build_app(self) -> web.Application:
        hub = Hub()
        catalogue = Catalogue(self.config, self.storage.input_images, self.storage.input_files)
        queue = PromptQueue(lambda: hub.send("status", {"status": self.state.queue_info()}, None))
        executor = Executor(self.config, self.storage, catalogue, queue, hub, self.crash)
        validator = PromptValidator(
            catalogue, lambda name: file_exists(self.storage.annotated_path(name))
        )
        self._state = State(
            self.config,
            self.storage,
            catalogue,
            queue,
            hub,
            executor,
            validator,
            started=time.time(),
        )
        app = web.Application(middlewares=[origin_only], client_max_size=104857600)
        app[STATE] = self._state
        routes = web.RouteTableDef()
        for prefix in ("", "/api"):
            for module in (api_prompt, api_files, api_info, api_ws):
                module.add_routes(routes, prefix)
        app.add_routes(routes)
        return app

    async def start(self) -> None:
        app = self.build_app()
        self.state.hub.start()
        self._tasks.append(asyncio.create_task(self.state.executor.run_forever()))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        if self.port == 0:
            self.port = _free_port(self.host)
        if self.config.startup_delay_ms > 0:
            log.info(
                "ComfyUI emulator starting; refusing connections for %.0f ms",
                self.config.startup_delay_ms,
            )
            self._tasks.append(asyncio.create_task(self._listen_later()))
        else:
            await self._listen()

    async def _listen_later(self) -> None:
        await asyncio.sleep(self.config.startup_delay_s)
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._ready.set()
        log.info(
            "ComfyUI emulator (not a real ComfyUI; emulating 0.3.64) listening on %s, files in %s",
            self.base_url,
            self.storage.base,
        )

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def crash(self) -> None:
        """Die as a crashed ComfyUI does: sockets closed without a close frame, then refusal."""
        log.error("emulated crash")
        if self.config.crash_mode == "exit":
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        server = self._runner.server if self._runner is not None else None
        for handler in list(server.connections) if server is not None else []:
            if handler.transport is not None:
                handler.transport.abort()
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
        await asyncio.Event().wait()  # the dead server's worker never returns

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._state is not None:
            await self._state.hub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.storage.cleanup()
