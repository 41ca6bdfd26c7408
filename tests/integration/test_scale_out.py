"""Scale-out on this machine: two server processes behind one Envoy, three RQ workers
across two emulated ComfyUI backends, PostgreSQL and Redis. One server is SIGKILLed
mid-run; clients retry (idempotently, with ``metadata.requestId``) and every accepted
job still succeeds, spread over both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.stack import GatewayStack, free_port, fresh_postgres_database

JOBS = 18
KILL_AFTER = 6
INPUTS = {"prompt": "scale", "width": 64, "height": 64, "steps": 4}


@dataclass
class ClientLog:
    """What the client saw: failed attempts (time, reason) and how often it retried."""

    kill_at: float = 0.0
    failures: list[tuple[float, str]] = field(default_factory=list)
    retries: int = 0


@pytest.fixture(scope="module")
def second_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("emulator-b") / "emulator.log").open("ab")
    env = {**os.environ, "COMFYUI_EMULATOR_STEP_MS": "40"}
    argv = [sys.executable, "-m", "comfyui_emulator", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/system_stats", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, second_backend: str
) -> Iterator[tuple[GatewayStack, str]]:
    workdir: Path = tmp_path_factory.mktemp("scale-out")
    with fresh_postgres_database() as database_url:
        env = {"DATABASE_URL": database_url, "COMFYUI_EMULATOR_STEP_MS": "40"}
        # Worker 0 serves the stack's emulator (backend A); two more serve backend B.
        stack = GatewayStack(workdir, env, emulator=True, servers=2, workers=1)
        with stack:
            subprocess.run(
                [sys.executable, "-m", "comfyui_gateway", "init"],
                env=stack.env,
                cwd=workdir,
                check=True,
                capture_output=True,
                timeout=60,
            )
            stack.start_worker(1, backend=second_backend)
            stack.start_worker(2, backend=second_backend)
            yield stack, database_url


def call(
    client: ClientLog, method: str, url: str, body: dict[str, Any] | None = None
) -> requests.Response:
    """One logical request; connection errors and 5xx answers are retried (50 ms apart)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            response = requests.request(method, url, json=body, timeout=10)
            if response.status_code < 500:
                return response
            reason = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            reason = type(exc).__name__
        client.failures.append((time.monotonic(), reason))
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {url} kept failing: {reason}")
        client.retries += 1
        time.sleep(0.05)


# Five processes start before the test (two servers, three workers, two emulators):
# allow more than the suite's default 60 s on a loaded two-core machine.
@pytest.mark.timeout(150)
def test_jobs_survive_a_server_kill_and_spread_over_backends(
    cluster: tuple[GatewayStack, str], second_backend: str
) -> None:
    stack, database_url = cluster
    client = ClientLog()
    accepted: list[str] = []
    started = time.monotonic()
    for index in range(JOBS):
        if index == KILL_AFTER:
            stack.replica_processes[0].send_signal(signal.SIGKILL)
            client.kill_at = time.monotonic()
        body = {
            "workflowId": "icon_512",
            "inputs": {**INPUTS, "seed": index + 1},
            "metadata": {"requestId": f"scale-{uuid.uuid4()}"},
        }
        response = call(client, "POST", f"{stack.base_url}/jobs", body)
        assert response.status_code == 202, response.text
        accepted.append(response.json()["jobId"])

    submitted_s = time.monotonic() - started
    pending = set(accepted)
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + 45
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = call(client, "GET", f"{stack.base_url}/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                statuses[job_id] = job["status"]
                pending.discard(job_id)
        time.sleep(0.1)
    elapsed = time.monotonic() - started

    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT backend_url, count(*) FROM jobs WHERE id = ANY(%s) GROUP BY backend_url",
            (accepted,),
        ).fetchall()
        total_rows = db.execute("SELECT count(*) FROM jobs").fetchone()
    per_backend = {str(url): int(count) for url, count in rows}
    after_kill = [moment for moment, _ in client.failures if moment >= client.kill_at]
    recovery_s = (max(after_kill) - client.kill_at) if after_kill else 0.0
    print(
        f"\nscale-out: {len(accepted)} jobs accepted in {submitted_s:.1f} s, all finished "
        f"after {elapsed:.1f} s; "
        f"statuses {dict(Counter(statuses.values()))}; per backend {per_backend}; "
        f"failed attempts during the kill {len(client.failures)} "
        f"({dict(Counter(reason for _, reason in client.failures))}), "
        f"retried {client.retries} time(s), 50 ms apart; "
        f"recovered {recovery_s:.2f} s after the SIGKILL"
    )

    assert not pending, f"unfinished: {pending}"
    assert set(statuses.values()) == {"succeeded"}, statuses
    assert total_rows is not None and total_rows[0] == JOBS  # retries made no duplicates
    assert set(per_backend) == {stack.comfyui_url, second_backend}
    assert all(count > 0 for count in per_backend.values())
    # The survivor serves everything: Envoy's health checks took the dead host out.
    assert stack.replica_processes[0].poll() == -signal.SIGKILL
    after = requests.get(f"{stack.base_url}/health", timeout=5)
    assert after.status_code == 200
