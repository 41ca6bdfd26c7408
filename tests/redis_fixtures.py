"""Redis fixtures: the shared test Redis, and a private redis-server a test may stop.

The shared Redis (``GATEWAY_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``) is
used by other tests at the same time: isolate with a unique namespace per test, never
FLUSHALL. If it is not reachable the tests fail; they never skip.

Usage in a test module::

    from tests.redis_fixtures import namespace, redis_client  # noqa: F401
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.ports import free_port

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def namespace() -> str:
    """A Redis namespace no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    """A client of the shared test Redis, closed after the test."""
    client = Redis.from_url(REDIS_URL)
    await client.ping()
    yield client
    await client.aclose()


def fail_fast_client(url: str) -> Redis:
    """A client that fails at once instead of retrying: tests want outages to show."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 0))


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


async def numsub(redis: Redis, channel: str) -> int:
    """Subscribers of ``channel`` across every connection, as Redis counts them."""
    counts = await redis.pubsub_numsub(channel)
    return int(counts[0][1])


class RedisProcess:
    """A redis-server of the test's own, on a free port, that the test may stop and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port: int = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        options = {"port": str(self.port), "bind": "127.0.0.1", "save": "", "appendonly": "no"}
        options["dir"] = str(self.workdir)
        arguments = [part for name, value in options.items() for part in (f"--{name}", value)]
        self._process = subprocess.Popen(
            [binary, *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("private redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)
            self._process = None


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A started private redis-server, stopped after the test."""
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
