"""A real gateway for integration tests: server process + Envoy, on free ports.

``GatewayStack`` runs ``python -m comfyui_gateway run`` and Envoy (rendered from the
root envoy.yaml exactly as ``dev`` does) as subprocesses, each test module with its
own data folder and ports, and stops them cleanly. Optionally it also runs the
ComfyUI emulator (``emulator=True``) and, with ``workers=N``, a Redis namespace of its
own and N ``comfyui-gateway worker`` processes; with ``servers=N`` (N > 1) it runs N
server processes sharing one Redis behind the one Envoy (replicas). Tests talk to it
the way users do: REST through Envoy, gRPC straight to the server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import requests

from comfyui_gateway.cli.edge import envoy_argv, render_envoy_config, write_envoy_config
from comfyui_gateway.config import load_settings
from tests.ports import free_port

START_TIMEOUT_S = 90.0
"""Generous: on a loaded 2-core machine a server with PostgreSQL took over 45 s to answer."""


class GatewayStack:
    """Server + Envoy subprocesses; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        *,
        emulator: bool = False,
        workers: int = 0,
        servers: int = 1,
    ) -> None:
        self.workdir = workdir
        self.emulator_port = free_port() if emulator else None
        self.worker_count = workers
        self.port = free_port()
        self.grpc_port = free_port()
        self.grpc_ports = [self.grpc_port, *(free_port() for _ in range(servers - 1))]
        self.admin_port = free_port()
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "GRPC_PORT": str(self.grpc_port),
            "ENVOY_ADMIN_PORT": str(self.admin_port),
            "DATABASE_URL": str(workdir / "gateway.db"),
            "STORAGE_LOCAL_PATH": str(workdir / "outputs"),
            "COMFYUI_URL": f"http://127.0.0.1:{free_port()}",
            "LOG_LEVEL": "info",
            "COMFYUI_EMULATOR_STEP_MS": "5",
            "REDIS_URL": "",
            # Tests poll freely; the rate-limit tests set their own small limit.
            "RATE_LIMIT_MAX": "1000000",
            **(env or {}),
        }
        if self.emulator_port is not None:
            self.env["COMFYUI_URL"] = f"http://127.0.0.1:{self.emulator_port}"
        if workers or servers > 1:
            self.env["REDIS_URL"] = self.env["REDIS_URL"] or "redis://127.0.0.1:6379/0"
            self.env["REDIS_NAMESPACE"] = f"t{uuid.uuid4().hex[:10]}"
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.grpc_address = f"127.0.0.1:{self.grpc_port}"
        self._server: subprocess.Popen[bytes] | None = None
        self.replica_processes: list[subprocess.Popen[bytes]] = []
        self._envoy: subprocess.Popen[bytes] | None = None
        self.emulator_process: subprocess.Popen[bytes] | None = None
        self.worker_processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def server_process(self) -> subprocess.Popen[bytes] | None:
        """The first ``comfyui-gateway run`` process (for signal tests)."""
        return self._server

    @property
    def envoy_process(self) -> subprocess.Popen[bytes] | None:
        """The Envoy in front (for benchmarks that read its CPU)."""
        return self._envoy

    @property
    def comfyui_url(self) -> str:
        return self.env["COMFYUI_URL"]

    def start(self) -> GatewayStack:
        if self.emulator_port is not None:
            self.start_emulator()
        self._server = self._spawn("server", [sys.executable, "-m", "comfyui_gateway", "run"])
        for index in range(self.worker_count):
            self.start_worker(index)
        self._envoy = self._spawn("envoy", self._envoy_argv())
        self._wait_until_ready()
        # Replicas start once the first server has migrated the database.
        for index in range(1, len(self.grpc_ports)):
            self.replica_processes.append(self._spawn_replica(index))
        for port, process in zip(self.grpc_ports[1:], self.replica_processes, strict=True):
            _wait_for_grpc_health(f"127.0.0.1:{port}", process)
        if self.replica_processes:
            self.wait_until_envoy_routes_to_all()
        if self.emulator_port is not None:
            self.wait_until_backend_reachable()
        return self

    def register_bundled_workflows(self) -> None:
        """``comfyui-gateway init`` against this stack: the bundled workflows, registered."""
        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=self.env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _spawn_replica(self, index: int) -> subprocess.Popen[bytes]:
        env = {**self.env, "GRPC_PORT": str(self.grpc_ports[index])}
        argv = [sys.executable, "-m", "comfyui_gateway", "run"]
        return self._spawn(f"server-{index}", argv, env)

    def restart_replica(self, index: int) -> subprocess.Popen[bytes]:
        """Start replica ``index`` (1-based, as in ``grpc_ports``) again after it died,
        on its old port, and wait until Envoy routes to it."""
        old = self.replica_processes[index - 1]
        if old.poll() is None:
            raise RuntimeError(f"replica {index} is still running")
        process = self._spawn_replica(index)
        self.replica_processes[index - 1] = process
        _wait_for_grpc_health(f"127.0.0.1:{self.grpc_ports[index]}", process)
        self.wait_until_envoy_routes_to_all()
        return process

    def upstream_health(self) -> dict[int, str]:
        """Envoy's health flags per server port (``healthy``, ``/failed_active_hc``...)."""
        clusters = requests.get(f"http://127.0.0.1:{self.admin_port}/clusters", timeout=5).text
        flags: dict[int, str] = {}
        for line in clusters.split():
            if line.startswith("grpc_server::") and "::health_flags::" in line:
                address, value = line.split("::", 1)[1].split("::health_flags::")
                flags[int(address.rsplit(":", 1)[1])] = value
        return flags

    def envoy_stat(self, name: str) -> int:
        """One counter or gauge from Envoy's admin /stats (0 when absent)."""
        url = f"http://127.0.0.1:{self.admin_port}/stats"
        text = requests.get(url, params={"filter": f"^{name}$"}, timeout=5).text
        for line in text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def wait_until_envoy_routes_to_all(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until Envoy's health checks have taken every server replica into rotation."""
        deadline = time.monotonic() + timeout_s
        flags = self.upstream_health()
        while time.monotonic() < deadline:
            flags = self.upstream_health()
            if all(flags.get(port) == "healthy" for port in self.grpc_ports):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Envoy never marked every server healthy: {flags}")

    def wait_until_backend_reachable(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if requests.get(f"{self.base_url}/health", timeout=2).json().get("ok"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"backend never reachable:\n{self.log('server')[-3000:]}")

    def start_emulator(self) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "comfyui_emulator", "--host", "127.0.0.1"]
        argv += ["--port", str(self.emulator_port)]
        self.emulator_process = self._spawn("emulator", argv)
        _wait_for_http(f"{self.comfyui_url}/system_stats", self.emulator_process)
        return self.emulator_process

    def start_worker(self, index: int, backend: str | None = None) -> subprocess.Popen[bytes]:
        """Worker ``index`` on ``backend`` (default: the stack's COMFYUI_URL)."""
        backend = backend or self.comfyui_url
        argv = [sys.executable, "-m", "comfyui_gateway", "worker", "--backend", backend]
        process = self._spawn(f"worker-{index}", argv)
        if index < len(self.worker_processes):
            self.worker_processes[index] = process
        else:
            self.worker_processes.append(process)
        return process

    def _envoy_argv(self) -> list[str]:
        settings = load_settings(None, **_settings_overrides(self.env))
        config = render_envoy_config(settings, [("127.0.0.1", port) for port in self.grpc_ports])
        path = write_envoy_config(config, self.workdir / "envoy.yaml")
        return envoy_argv(path, settings.ENVOY_WORKERS)

    def _spawn(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(argv, env=env or self.env, cwd=self.workdir, stdout=log, stderr=log)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for name, process in (("server", self._server), ("envoy", self._envoy)):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)}")
            try:
                if requests.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"stack not ready:\n{self.log('server')}\n{self.log('envoy')}")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        processes = [
            self._envoy,
            *self.worker_processes,
            *self.replica_processes,
            self._server,
            self.emulator_process,
        ]
        for process in processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            if process is not None:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self._logs:
            log.close()

    def __enter__(self) -> GatewayStack:
        try:
            return self.start()
        except BaseException:  # a failed start (or a test timeout) must not leak processes
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def _wait_for_grpc_health(address: str, process: subprocess.Popen[bytes]) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + START_TIMEOUT_S
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{address}: server exited with {process.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{address} never became SERVING")


def _settings_overrides(env: Mapping[str, str]) -> dict[str, str]:
    names = (
        "PORT",
        "HOST",
        "GRPC_PORT",
        "ENVOY_ADMIN_PORT",
        "CORS_ORIGINS",
        "MAX_REQUEST_BYTES",
        "MAX_INPUT_BYTES",
        "EDGE_GRPC_PASSTHROUGH",
    )
    return {name: env[name] for name in names if name in env}


POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own for one stack, dropped afterwards."""
    import psycopg

    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
