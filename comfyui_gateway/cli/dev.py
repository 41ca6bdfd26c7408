"""``comfyui-gateway dev``: the whole gateway on this machine, supervised.

Children, in start order:
1. the ComfyUI emulator, when COMFYUI_URL is not set (said loudly in the log);
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
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from comfyui_gateway.cli.edge import envoy_binary, render_envoy_config, write_envoy_config
from comfyui_gateway.cli.init import initialise
from comfyui_gateway.cli.supervisor import ChildSpec, ReadyCheck, Supervisor
from comfyui_gateway.config import DEFAULT_COMFYUI_URL, Settings, comfyui_url_configured

log = logging.getLogger("comfyui_gateway.dev")


def _gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "comfyui_gateway", *args]


def http_ready(url: str) -> ReadyCheck:
    async def check() -> bool:
        try:
            timeout = aiohttp.ClientTimeout(total=1)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url) as response,
            ):
                return response.status < 500
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


def emulator_child(settings: Settings) -> ChildSpec:
    """The emulator on COMFYUI_URL's default address, its files beside the outputs folder."""
    parsed = urlparse(DEFAULT_COMFYUI_URL)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 8188
    files = os.environ.get("COMFYUI_EMULATOR_DIR") or str(
        settings.STORAGE_LOCAL_PATH.parent / "comfyui-emulator"
    )
    return ChildSpec(
        name="comfyui-emulator",
        argv=[sys.executable, "-m", "comfyui_emulator", "--host", host, "--port", str(port)],
        env={"COMFYUI_EMULATOR_DIR": files},
        ready=http_ready(f"{DEFAULT_COMFYUI_URL}/system_stats"),
    )


def envoy_child(settings: Settings, config_dir: Path) -> ChildSpec:
    config = render_envoy_config(settings, [(settings.GRPC_HOST, settings.GRPC_PORT)])
    path = write_envoy_config(config, config_dir / "envoy.yaml")
    argv = [envoy_binary(), "-c", str(path), "--disable-hot-restart", "--concurrency", "1"]
    argv += ["--log-level", "warn"]
    return ChildSpec(name="envoy", argv=argv, ready=http_ready(_local_url(settings, "/health")))


def plan_children(settings: Settings, config_dir: Path) -> list[ChildSpec]:
    children: list[ChildSpec] = []
    if not comfyui_url_configured():
        log.warning(
            "COMFYUI_URL is not set: running the bundled ComfyUI emulator at %s "
            "(no GPU; images are synthetic). Set COMFYUI_URL to use a real ComfyUI.",
            DEFAULT_COMFYUI_URL,
        )
        children.append(emulator_child(settings))
    grpc_address = f"{settings.GRPC_HOST}:{settings.GRPC_PORT}"
    children.append(ChildSpec("server", _gateway_command("run"), ready=grpc_ready(grpc_address)))
    if settings.REDIS_URL:
        children += [
            ChildSpec(
                f"worker-{index + 1}.{slot + 1}", _gateway_command("worker", "--backend", url)
            )
            for index, url in enumerate(settings.comfyui_urls)
            for slot in range(settings.MAX_CONCURRENCY)
        ]
    children.append(envoy_child(settings, config_dir))
    return children


def _local_url(settings: Settings, path: str) -> str:
    host = "127.0.0.1" if settings.HOST in ("0.0.0.0", "::") else settings.HOST
    return f"http://{host}:{settings.PORT}{path}"


async def run_dev(settings: Settings) -> int:
    await initialise(settings)
    with tempfile.TemporaryDirectory(prefix="comfyui-gateway-") as config_dir:
        supervisor = Supervisor(plan_children(settings, Path(config_dir)))
        log.info(
            "REST on %s, gRPC on %s:%s", _local_url(settings, ""), "127.0.0.1", settings.GRPC_PORT
        )
        await supervisor.run()
    return 0


async def run_edge(settings: Settings, config_out: Path | None) -> int:
    """Envoy alone (for deployments that run server and edge separately)."""
    with tempfile.TemporaryDirectory(prefix="comfyui-gateway-") as config_dir:
        target = Path(config_dir)
        child = envoy_child(settings, target)
        if config_out is not None:
            write_envoy_config(
                render_envoy_config(settings, [(settings.GRPC_HOST, settings.GRPC_PORT)]),
                config_out,
            )
        await Supervisor([child]).run()
    return 0
