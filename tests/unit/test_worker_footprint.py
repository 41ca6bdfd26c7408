"""What a worker process loads: a worker never migrates, so Alembic stays out of it."""

from __future__ import annotations

import subprocess
import sys

MIGRATION_ONLY = ("alembic", "mako", "pygments")
"""Alembic and what it brings (about 10 MB of a worker's memory)."""


def test_a_worker_process_does_not_load_the_migration_tooling() -> None:
    probe = (
        "import sys\n"
        "import comfyui_gateway.cli.worker, worker.rq_worker, worker.services\n"
        f"print(sorted(m for m in {MIGRATION_ONLY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
