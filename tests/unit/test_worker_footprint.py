"""What a gateway process loads: only what its configuration uses. A worker never
migrates, so Alembic stays out; on local storage the S3 SDK stays out; Pillow loads
with the first image opened, cryptography with the first sealed graph (privacy mode
loads it at start-up), PyJWT with JWT_SECRET, aiosqlite with a SQLite database. The
API server loads the worker's modules only when it runs workers itself (embedded), and
aiohttp with the first media URL it fetches. Each was megabytes of every process's
memory (the ``memory`` bench)."""

from __future__ import annotations

import subprocess
import sys

MIGRATION_ONLY = ("alembic", "mako", "pygments")
"""Alembic and what it brings (about 10 MB of a worker's memory)."""
ON_FIRST_USE = ("PIL", "cryptography.fernet", "cryptography.hazmat.bindings._rust", "jwt")
"""Pillow (~3 MB), cryptography (~7 MB), PyJWT: loaded by the code that needs them."""

WORKER_MODULES = "comfyui_gateway.cli.worker, worker.rq_worker, worker.services"
SERVER_MODULES = "comfyui_gateway.cli.serve"


def _loaded_after(modules: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of ``candidates`` a fresh interpreter has loaded after importing ``modules``."""
    probe = (
        "import sys\n"
        f"import {modules}\n"
        f"print(' '.join(sorted(m for m in {candidates!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.split()


def test_a_worker_process_does_not_load_the_migration_tooling() -> None:
    assert _loaded_after(WORKER_MODULES, MIGRATION_ONLY) == []


def test_a_worker_on_local_storage_does_not_load_the_s3_sdk() -> None:
    assert _loaded_after(WORKER_MODULES, ("minio",)) == []


def test_a_worker_loads_pillow_cryptography_and_pyjwt_only_on_first_use() -> None:
    assert _loaded_after(WORKER_MODULES, ON_FIRST_USE) == []


def test_a_server_loads_pillow_cryptography_and_pyjwt_only_on_first_use() -> None:
    assert _loaded_after(SERVER_MODULES, ON_FIRST_USE) == []


def test_no_process_loads_aiosqlite_before_it_opens_a_sqlite_database() -> None:
    assert _loaded_after(f"{WORKER_MODULES}, {SERVER_MODULES}", ("aiosqlite",)) == []


def test_a_server_loads_the_worker_and_its_http_client_only_to_run_jobs_itself() -> None:
    """In Redis mode the server never runs a job: aiohttp alone was ~9 MB of it."""
    assert _loaded_after(SERVER_MODULES, ("aiohttp", "worker.embedded", "worker.runner")) == []
