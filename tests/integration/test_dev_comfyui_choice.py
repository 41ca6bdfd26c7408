"""``dev`` next to whatever already holds the default ComfyUI address.

DEV_COMFYUI_URL stands in for 127.0.0.1:8188 (tests never bind 8188): a ComfyUI there
is used and named in the log; a plain web server or a non-HTTP listener there makes
the emulator take a free port, with no crash loop; a child that cannot start stops
``dev`` with one line and exit code 1.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.emulator_helpers import EmulatorProcess
from tests.ports import free_port

pytestmark = pytest.mark.timeout(150)
START_TIMEOUT_S = 90.0


class Dev:
    """One ``comfyui-gateway dev`` process on free ports, its log in ``workdir``."""

    def __init__(self, workdir: Path, default_comfyui: str, **env: str) -> None:
        self.port = free_port()
        self.log_path = workdir / "dev.log"
        base = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_URL", "REDIS_URL")}
        self.env = base | {
            "PORT": str(self.port),
            "GRPC_PORT": str(free_port()),
            "ENVOY_ADMIN_PORT": str(free_port()),
            "DEV_COMFYUI_URL": default_comfyui,
            "COMFYUI_EMULATOR_STEP_MS": "5",
            "DATABASE_URL": str(workdir / "gateway.db"),
            "STORAGE_LOCAL_PATH": str(workdir / "outputs"),
            **env,
        }
        with self.log_path.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "comfyui_gateway", "dev"],
                cwd=workdir,
                env=self.env,
                stdout=sink,
                stderr=sink,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log[-3000:]
            try:
                url = f"http://127.0.0.1:{self.port}/health"
                healthy = requests.get(url, timeout=1).json().get("ok")
                if healthy and "gateway ready" in self.log:  # the supervisor saw it too
                    return
            except (requests.ConnectionError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"dev never became healthy:\n{self.log[-3000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def plain_http() -> Iterator[str]:
    """Some other web application: 200 text for every path."""

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello from another app"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def not_http() -> Iterator[str]:
    """A TCP listener that greets like SSH and then says nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            accepted.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.mark.parametrize("squatter", ["plain_http", "not_http"])
def test_a_stranger_on_the_default_address_gets_the_emulator_elsewhere(
    squatter: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    taken = request.getfixturevalue(squatter)
    dev = Dev(tmp_path, taken)
    try:
        dev.wait_healthy()
        log = dev.log
        assert f"{taken} is taken by something that is not ComfyUI" in log
        assert "the emulator takes http://127.0.0.1:" in log
        # Auth is off and HOST unset: loopback only, and the log says so.
        assert f"gateway ready: REST on http://127.0.0.1:{dev.port} (listening on " in log
        assert f"(listening on 127.0.0.1:{dev.port} only)" in log
        assert "restarting" not in log
        assert "address already in use" not in log.lower()
    finally:
        assert dev.stop() == 0


def test_a_running_comfyui_is_used_and_named(tmp_path: Path) -> None:
    comfyui = EmulatorProcess(tmp_path)
    try:
        comfyui.wait_ready()
        dev = Dev(tmp_path, comfyui.base_url)
        try:
            dev.wait_healthy()
            log = dev.log
            assert f"using the ComfyUI already running at {comfyui.base_url} (ComfyUI " in log
            assert "started comfyui-emulator" not in log
            assert f"ComfyUI at {comfyui.base_url}" in log
        finally:
            assert dev.stop() == 0
    finally:
        comfyui.stop()


def test_a_child_that_cannot_start_stops_dev_with_one_line(tmp_path: Path) -> None:
    grpc_squatter = socket.create_server(("127.0.0.1", 0))
    try:
        busy = str(grpc_squatter.getsockname()[1])
        dev = Dev(tmp_path, f"http://127.0.0.1:{free_port()}", GRPC_PORT=busy)
        assert dev.process.wait(timeout=START_TIMEOUT_S) == 1, dev.log[-3000:]
    finally:
        grpc_squatter.close()
    log = dev.log
    assert "server exited with code" in log and "before it was ready" in log
    assert "restarting" not in log
