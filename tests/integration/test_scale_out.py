"""Scale-out on this machine: two server processes behind one Envoy, three RQ workers
across two emulated ComfyUI backends, PostgreSQL and Redis. A server replica is
SIGKILLed while clients work, and no client sees it: every request is made once, with
no client-side retry, and must succeed. Envoy retries on the other replica (reads,
and ``POST /jobs``, which the server keys by ``x-request-id``), outlier detection
takes the dead host out at its first failure, and the jobs still all succeed, spread
over both backends."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
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

from tests.ports import free_port
from tests.stack import GatewayStack, fresh_postgres_database

JOBS = 18
KILL_AFTER = 6
INPUTS = {"prompt": "scale", "width": 64, "height": 64, "steps": 4}
# The loop test: answers per client thread before the kill, and after it (counted
# from the kill; the dead host is out of rotation by then).
LOOP_CLIENTS = 3
LOOP_BEFORE_KILL = 15
LOOP_AFTER_KILL = 25
SEEDS = itertools.count(1000)


@dataclass
class ClientLog:
    """What clients saw: every request made (once) and those that failed, with why."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        """One request, never retried; a failure is recorded and answers None."""
        try:
            response = requests.request(method, url, json=body, timeout=30)
        except requests.RequestException as exc:
            return self._failed(f"{method} {url}: {type(exc).__name__}")
        with self.lock:
            self.requests += 1
        if response.status_code not in (200, 202):
            return self._failed(f"{method} {url}: HTTP {response.status_code} {response.text}")
        return response.json()

    def _failed(self, reason: str) -> None:
        with self.lock:
            self.failures.append(reason)
        return None


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


def job_body(seed: int, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"workflowId": "icon_512", "inputs": {**INPUTS, "seed": seed}}
    if request_id is not None:
        body["metadata"] = {"requestId": request_id}
    return body


def kill_replica(stack: GatewayStack) -> None:
    """SIGKILL the second server (the first one stays up for the rest of the module)."""
    replica = stack.replica_processes[0]
    if replica.poll() is not None:
        stack.restart_replica(1)
        replica = stack.replica_processes[0]
    replica.send_signal(signal.SIGKILL)
    assert replica.wait(timeout=10) == -signal.SIGKILL


def wait_until_out_of_rotation(stack: GatewayStack, port: int) -> None:
    deadline = time.monotonic() + 30
    while stack.upstream_health().get(port) == "healthy":
        assert time.monotonic() < deadline, "Envoy kept the dead replica in rotation"
        time.sleep(0.05)


def wait_for_terminal(client: ClientLog, base_url: str, job_ids: list[str]) -> dict[str, str]:
    pending, statuses = set(job_ids), {}
    deadline = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = client.call("GET", f"{base_url}/jobs/{job_id}")
            if job is not None and job["status"] in ("succeeded", "failed", "cancelled"):
                statuses[job_id] = job["status"]
                pending.discard(job_id)
        time.sleep(0.1)
    assert not pending, f"unfinished: {pending}"
    return statuses


def rows_per_backend(database_url: str, job_ids: list[str]) -> tuple[dict[str, int], int]:
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT backend_url, count(*) FROM jobs WHERE id = ANY(%s) GROUP BY backend_url",
            (job_ids,),
        ).fetchall()
        total = db.execute("SELECT count(*) FROM jobs").fetchone()
    assert total is not None
    return {str(url): int(count) for url, count in rows}, int(total[0])


# Five processes start before the test (two servers, three workers, two emulators):
# allow more than the suite's default 60 s on a loaded two-core machine.
@pytest.mark.timeout(240)
def test_jobs_survive_a_server_kill_and_spread_over_backends(
    cluster: tuple[GatewayStack, str], second_backend: str
) -> None:
    stack, database_url = cluster
    client = ClientLog()
    accepted: list[str] = []
    started = time.monotonic()
    for index in range(JOBS):
        if index == KILL_AFTER:
            kill_replica(stack)
        created = client.call(
            "POST", f"{stack.base_url}/jobs", job_body(index + 1, str(uuid.uuid4()))
        )
        if created is not None:
            accepted.append(created["jobId"])
    submitted_s = time.monotonic() - started
    statuses = wait_for_terminal(client, stack.base_url, accepted)
    per_backend, total_rows = rows_per_backend(database_url, accepted)
    print(
        f"\nscale-out: {len(accepted)} jobs accepted in {submitted_s:.1f} s, all finished "
        f"after {time.monotonic() - started:.1f} s; statuses {dict(Counter(statuses.values()))}; "
        f"per backend {per_backend}; {client.requests} requests, failures {client.failures}; "
        f"Envoy retries {stack.envoy_stat('cluster.grpc_server.upstream_rq_retry')}"
    )

    assert client.failures == []
    assert len(accepted) == JOBS
    assert set(statuses.values()) == {"succeeded"}, statuses
    assert total_rows == JOBS  # no duplicates
    assert set(per_backend) == {stack.comfyui_url, second_backend}
    assert all(count > 0 for count in per_backend.values())
    after = requests.get(f"{stack.base_url}/health", timeout=5)
    assert after.status_code == 200


def client_loop(
    client: ClientLog, base_url: str, created: list[str], stop: threading.Event
) -> None:
    """Creations (no requestId: Envoy's x-request-id keys them) and every kind of read."""
    while not stop.is_set():
        job = client.call("POST", f"{base_url}/jobs", job_body(next(SEEDS)))
        if job is not None:
            created.append(job["jobId"])
            client.call("GET", f"{base_url}/jobs/{job['jobId']}")
            client.call("GET", f"{base_url}/jobs/{job['jobId']}/logs")
        client.call("GET", f"{base_url}/jobs?limit=5")
        client.call("GET", f"{base_url}/workflows")
        client.call("GET", f"{base_url}/health")


def wait_for_answers(client: ClientLog, count: int) -> None:
    deadline = time.monotonic() + 120
    while client.requests < count:
        assert time.monotonic() < deadline, f"clients too slow: {client.requests} answers"
        time.sleep(0.05)


@pytest.mark.timeout(240)
def test_clients_looping_over_reads_and_creations_see_no_failure(
    cluster: tuple[GatewayStack, str],
) -> None:
    stack, database_url = cluster
    if stack.replica_processes[0].poll() is not None:
        stack.restart_replica(1)  # the dead replica rejoins once its health checks pass
    client = ClientLog()
    created: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=client_loop, args=(client, stack.base_url, created, stop))
        for _ in range(LOOP_CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for_answers(client, LOOP_CLIENTS * LOOP_BEFORE_KILL)
        killed_at = client.requests
        kill_replica(stack)  # requests are in flight on both replicas now
        wait_until_out_of_rotation(stack, stack.grpc_ports[1])
        wait_for_answers(client, killed_at + LOOP_CLIENTS * LOOP_AFTER_KILL)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    print(
        f"\nloop: {client.requests} requests by {LOOP_CLIENTS} clients ({killed_at} before "
        f"the SIGKILL), {len(created)} jobs created, failures {client.failures}; Envoy retries "
        f"{stack.envoy_stat('cluster.grpc_server.upstream_rq_retry')}, outlier ejections "
        f"{stack.envoy_stat('cluster.grpc_server.outlier_detection.ejections_enforced_total')}"
    )
    assert client.failures == []
    assert len(set(created)) == len(created)  # every creation made its own job
    with psycopg.connect(database_url) as db:
        found = db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s)", (created,)).fetchone()
    assert found is not None and found[0] == len(created)
