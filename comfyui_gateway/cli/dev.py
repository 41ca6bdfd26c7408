"""``comfyui-gateway dev``: the whole gateway on this machine, supervised.

Children, in start order:
1. the ComfyUI emulator, when COMFYUI_URL is not set and no ComfyUI answers at
   DEV_COMFYUI_URL (see ``choose_comfyui``; the log says which was chosen);
2. the API process (``run``): gRPC server, plus the workers when REDIS_URL is empty;
3. with REDIS_URL set, one ``worker`` process per backend;
4. Envoy, serving REST on PORT, with a config rendered from envoy.yaml.
Envoy's rendered config lives in a temporary folder removed on exit, so nothing is
written outside the configured data paths.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from comfyui_gateway.cli.comfyui_probe import Found, probe_comfyui
from comfyui_gateway.cli.edge import envoy_argv, render_envoy_config, write_envoy_config
from comfyui_gateway.cli.init import initialise
from comfyui_gateway.cli.supervisor import ChildSpec, ReadyCheck, Supervisor
from comfyui_gateway.config import Settings, comfyui_url_configured

log = logging.getLogger("comfyui_gateway.dev")


def _gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "comfyui_gateway", *args]


def http_ready(url: str, below: int = 300) -> ReadyCheck:
    """Ready once ``url`` answers with a status under ``below``."""

    async def check() -> bool:
        try:
            timeout = aiohttp.ClientTimeout(total=1)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url) as response,
            ):
                return response.status < below
        except (aiohttp.ClientError, TimeoutError):
            return False

    return check


def grpc_ready(address: str) -> ReadyCheck:
    async def check() -> bool:
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
        except grpc.aio.AioRpcError:
            return False

    return check


@dataclass(frozen=True)
class ComfyUIChoice:
    """The backends ``dev`` uses, and where to run the emulator (None: no emulator)."""

    urls: list[str]
    emulator_url: str | None = None


async def choose_comfyui(settings: Settings) -> ComfyUIChoice:
    """COMFYUI_URL when set; else a ComfyUI already at DEV_COMFYUI_URL; else the emulator
    there if the address is free, or on a free port if something else holds it."""
    if comfyui_url_configured():
        return ComfyUIChoice(settings.comfyui_urls)
    default = settings.DEV_COMFYUI_URL.rstrip("/")
    probe = await probe_comfyui(default)
    if probe.found is Found.COMFYUI:
        log.warning(
            "COMFYUI_URL is not set: using the ComfyUI already running at %s (%s). "
            "Set COMFYUI_URL to choose another.",
            default,
            probe.detail,
        )
        return ComfyUIChoice([default])
    url = default
    if probe.found is Found.OTHER:
        url = f"http://127.0.0.1:{_free_port()}"
        log.warning(
            "%s is taken by something that is not ComfyUI (%s): the emulator takes %s instead",
            default,
            probe.detail,
            url,
        )
    log.warning(
        "COMFYUI_URL is not set: running the bundled ComfyUI emulator at %s "
        "(no GPU; images are synthetic). Set COMFYUI_URL to use a real ComfyUI.",
        url,
    )
    return ComfyUIChoice([url], emulator_url=url)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def emulator_child(settings: Settings, url: str) -> ChildSpec:
    """The emulator on ``url``, its files beside the outputs folder."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 8188
    files = os.environ.get("COMFYUI_EMULATOR_DIR") or str(
        settings.STORAGE_LOCAL_PATH.parent / "comfyui-emulator"
    )
    return ChildSpec(
        name="comfyui-emulator",
        argv=[sys.executable, "-m", "comfyui_emulator", "--host", host, "--port", str(port)],
        env={"COMFYUI_EMULATOR_DIR": files},
        ready=http_ready(f"{url}/system_stats"),
    )


def envoy_child(
    settings: Settings, config_dir: Path, upstreams: Sequence[tuple[str, int]] = ()
) -> ChildSpec:
    """Envoy on HOST:PORT in front of ``upstreams`` (default: GRPC_HOST:GRPC_PORT)."""
    upstreams = upstreams or [(settings.GRPC_HOST, settings.GRPC_PORT)]
    config = render_envoy_config(settings, upstreams)
    path = write_envoy_config(config, config_dir / "envoy.yaml")
    argv = [*envoy_argv(path, settings.ENVOY_WORKERS), "--log-level", "warn"]
    return ChildSpec(
        name="envoy", argv=argv, ready=http_ready(_local_url(settings, "/health"), below=500)
    )


def plan_children(settings: Settings, config_dir: Path, comfyui: ComfyUIChoice) -> list[ChildSpec]:
    children: list[ChildSpec] = []
    if comfyui.emulator_url is not None:
        children.append(emulator_child(settings, comfyui.emulator_url))
    backends = {"COMFYUI_URL": ",".join(comfyui.urls)}
    grpc_address = f"{settings.GRPC_HOST}:{settings.GRPC_PORT}"
    server = ChildSpec("server", _gateway_command("run"), backends, ready=grpc_ready(grpc_address))
    children.append(server)
    if settings.REDIS_URL:
        children += [
            ChildSpec(
                f"worker-{index + 1}.{slot + 1}",
                _gateway_command("worker", "--backend", url),
                backends,
            )
            for index, url in enumerate(comfyui.urls)
            for slot in range(settings.MAX_CONCURRENCY)
        ]
    children.append(envoy_child(settings, config_dir))
    return children


def _local_url(settings: Settings, path: str) -> str:
    host = "127.0.0.1" if settings.HOST in ("0.0.0.0", "::") else settings.HOST
    return f"http://{host}:{settings.PORT}{path}"


def _listening_on(settings: Settings) -> str:
    """Where REST really listens, said plainly (all interfaces is worth a warning)."""
    if settings.HOST in ("0.0.0.0", "::"):
        return f"{settings.HOST}:{settings.PORT}, every network interface"
    return f"{settings.HOST}:{settings.PORT} only"


async def run_dev(settings: Settings) -> int:
    await initialise(settings)
    comfyui = await choose_comfyui(settings)
    with tempfile.TemporaryDirectory(prefix="comfyui-gateway-") as config_dir:
        children = plan_children(settings, Path(config_dir), comfyui)

        def ready() -> None:
            log.info(
                "gateway ready: REST on %s (listening on %s), gRPC on %s:%s, ComfyUI at %s",
                _local_url(settings, ""),
                _listening_on(settings),
                settings.GRPC_HOST,
                settings.GRPC_PORT,
                ", ".join(comfyui.urls),
            )

        return await Supervisor(children, on_ready=ready).run()


async def run_edge(
    settings: Settings, config_out: Path | None, upstreams: Sequence[tuple[str, int]] = ()
) -> int:
    """Envoy alone (for deployments that run server and edge separately), balancing over
    ``upstreams`` (several ``run`` processes) or GRPC_HOST:GRPC_PORT."""
    upstreams = upstreams or [(settings.GRPC_HOST, settings.GRPC_PORT)]
    with tempfile.TemporaryDirectory(prefix="comfyui-gateway-") as config_dir:
        child = envoy_child(settings, Path(config_dir), upstreams)
        if config_out is not None:
            write_envoy_config(render_envoy_config(settings, upstreams), config_out)
        targets = ", ".join(f"{host}:{port}" for host, port in upstreams)

        def ready() -> None:
            log.info(
                "edge ready: REST on %s (listening on %s) in front of %s",
                _local_url(settings, ""),
                _listening_on(settings),
                targets,
            )

        return await Supervisor([child], on_ready=ready).run()
