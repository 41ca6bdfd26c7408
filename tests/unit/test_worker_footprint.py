"""What a worker process loads: it never migrates, so Alembic stays out; on local
storage the S3 SDK stays out too (each was megabytes of every worker's memory)."""

from __future__ import annotations

import subprocess
import sys

MIGRATION_ONLY = ("alembic", "mako", "pygments")
"""Alembic and what it brings (about 10 MB of a worker's memory)."""


WORKER_MODULES = "comfyui_gateway.cli.worker, worker.rq_worker, worker.services"


def _loaded_by_a_worker(candidates: tuple[str, ...]) -> list[str]:
    """Which of ``candidates`` a fresh interpreter has loaded after the worker's imports."""
    probe = (
        "import sys\n"
        f"import {WORKER_MODULES}\n"
        f"print(' '.join(sorted(m for m in {candidates!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.split()


def test_a_worker_process_does_not_load_the_migration_tooling() -> None:
    assert _loaded_by_a_worker(MIGRATION_ONLY) == []


def test_a_worker_on_local_storage_does_not_load_the_s3_sdk() -> None:
    assert _loaded_by_a_worker(("minio",)) == []
