"""Scheduling over real stacks: one owner's backlog does not hold another back (embedded
and RQ), and jobs stay on the backend that holds their checkpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import requests

from tests.scheduling_helpers import (
    CHECKPOINTS,
    checkpoints_run,
    emulators,
    gateway,
    job,
    loads,
    started_at,
    submit,
    wait_terminal,
)
from tests.stack import GatewayStack

OWNER_A, OWNER_B = "sched-owner-a", "sched-owner-b"
KEYS = f"{OWNER_A}:user,{OWNER_B}:user"
BACKLOG, NEWCOMER = 100, 5


def _submit_many(
    stack: GatewayStack, key: str, seeds: range, *, alternate: bool = False, steps: int = 40
) -> list[str]:
    """Submitted from a few threads: the backlog must build faster than it drains.
    Checkpoint 0 for every job, or alternating by seed."""
    sessions = threading.local()

    def one(seed: int) -> str:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        session: requests.Session = sessions.session
        checkpoint = CHECKPOINTS[seed % 2 if alternate else 0]
        return submit(session, stack, checkpoint=checkpoint, seed=seed, key=key, steps=steps)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, seeds))


def _b_waits_at_most_three_slots(stack: GatewayStack) -> None:
    """A queues 100 jobs, then B 5: at most 3 of A's start between B's submission and
    B's first start, while most of A's are still waiting."""
    session = requests.Session()
    a_ids = _submit_many(stack, OWNER_A, range(BACKLOG))
    b_ids = _submit_many(stack, OWNER_B, range(1000, 1000 + NEWCOMER))
    wait_terminal(session, stack, b_ids[:1], key=OWNER_B, timeout_s=60)
    first = job(session, stack, b_ids[0], OWNER_B)
    b_created = datetime.fromisoformat(first["timing"]["createdAt"].replace("Z", "+00:00"))
    b_started = started_at(first)
    assert b_started is not None
    a_starts = [started_at(job(session, stack, i, OWNER_A)) for i in a_ids]
    ahead = [t for t in a_starts if t is not None and b_created < t < b_started]
    assert len(ahead) <= 3, f"{len(ahead)} of A's jobs started before B's first"
    waiting = [t for t in a_starts if t is None or t > b_started]
    assert len(waiting) >= BACKLOG // 2, "A's backlog had drained: the test proved nothing"


@pytest.fixture(scope="module")
def two_backends(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayStack, list[str]]]:
    """Embedded gateway, two emulators paying 400 ms per checkpoint load."""
    workdir = tmp_path_factory.mktemp("sched")
    emulator_env = {"COMFYUI_EMULATOR_STEP_MS": "5", "COMFYUI_EMULATOR_LOAD_MS": "400"}
    env = {
        "API_KEYS": KEYS,
        "MAX_CONCURRENCY": "1",
        "SCHEDULER_AFFINITY": "true",
        "AFFINITY_MAX_WAIT_S": "30",
    }
    with emulators(workdir, 2, emulator_env) as backends:
        urls = [b.base_url for b in backends]
        with gateway(workdir / "gw", urls, env) as stack:
            yield stack, urls


def test_jobs_stay_on_the_backend_holding_their_checkpoint(
    two_backends: tuple[GatewayStack, list[str]],
) -> None:
    """Alternating checkpoints on two backends: each backend keeps one, so the loads
    are the two first ones plus at most one switch per backend at the tail (a backend
    whose checkpoint's jobs ran out helps with the other's backlog)."""
    stack, urls = two_backends
    session = requests.Session()
    ids = [
        submit(session, stack, checkpoint=CHECKPOINTS[i % 2], seed=i, key=OWNER_A) for i in range(2)
    ]
    # The rest while the first two still load (400 ms): all of it queued at once.
    ids += _submit_many(stack, OWNER_A, range(2, 12), alternate=True, steps=2)
    wait_terminal(session, stack, ids, key=OWNER_A)
    ran = [checkpoints_run(url) for url in urls]
    paid = [loads(url) for url in urls]
    assert sum(len(r) for r in ran) == 12
    assert {r[0] for r in ran} == set(CHECKPOINTS), ran  # each backend took up one
    for run in ran:
        assert run.count(run[0]) >= len(run) - 1, ran
    assert sum(len(p) for p in paid) <= 4, paid


def test_one_owners_backlog_delays_anothers_first_job_embedded(
    two_backends: tuple[GatewayStack, list[str]],
) -> None:
    _b_waits_at_most_three_slots(two_backends[0])  # last in the module: leaves a backlog


def test_one_owners_backlog_delays_anothers_first_job_rq(tmp_path: Path) -> None:
    env = {"API_KEYS": KEYS, "MAX_CONCURRENCY": "1"}
    with (
        emulators(tmp_path, 1, {"COMFYUI_EMULATOR_STEP_MS": "5"}) as (backend,),
        gateway(tmp_path / "gw", [backend.base_url], env, workers=1) as stack,
    ):
        _b_waits_at_most_three_slots(stack)
