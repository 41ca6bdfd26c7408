"""A real gateway for integration tests: server process + Envoy, on free ports.

``GatewayStack`` runs ``python -m comfyui_gateway run`` and Envoy (rendered from the
root envoy.yaml exactly as ``dev`` does) as subprocesses, each test module with its
own data folder and ports, and stops both cleanly. Tests talk to it the way users
do: REST through Envoy, gRPC straight to the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import requests

from comfyui_gateway.cli.edge import envoy_binary, render_envoy_config, write_envoy_config
from comfyui_gateway.config import load_settings

START_TIMEOUT_S = 45.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GatewayStack:
    """Server + Envoy subprocesses; see the module docstring."""

    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.grpc_port = free_port()
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
            **(env or {}),
        }
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.grpc_address = f"127.0.0.1:{self.grpc_port}"
        self._server: subprocess.Popen[bytes] | None = None
        self._envoy: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    def start(self) -> GatewayStack:
        self._server = self._spawn("server", [sys.executable, "-m", "comfyui_gateway", "run"])
        self._envoy = self._spawn("envoy", self._envoy_argv())
        self._wait_until_ready()
        return self

    def _envoy_argv(self) -> list[str]:
        settings = load_settings(None, **_settings_overrides(self.env))
        config = render_envoy_config(settings, [("127.0.0.1", self.grpc_port)])
        path = write_envoy_config(config, self.workdir / "envoy.yaml")
        return [envoy_binary(), "-c", str(path), "--disable-hot-restart", "--concurrency", "1"]

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        return subprocess.Popen(argv, env=self.env, cwd=self.workdir, stdout=log, stderr=log)

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
        for process in (self._envoy, self._server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self._envoy, self._server):
            if process is not None:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self._logs:
            log.close()

    def __enter__(self) -> GatewayStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _settings_overrides(env: Mapping[str, str]) -> dict[str, str]:
    names = ("PORT", "HOST", "GRPC_PORT", "ENVOY_ADMIN_PORT", "CORS_ORIGINS", "MAX_REQUEST_BYTES")
    return {name: env[name] for name in names if name in env}
