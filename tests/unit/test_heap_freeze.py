"""A started process freezes its heap: later collections walk only what serving adds."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, time
import server.app, worker.runner  # roughly what a started process holds
from comfyui_gateway.heap import YOUNG_THRESHOLD, freeze_started_process

def full_collection_ms():
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000

before = full_collection_ms()
freeze_started_process()
print(gc.get_threshold()[0] == YOUNG_THRESHOLD, gc.get_freeze_count(), before, full_collection_ms())
"""


def test_a_full_collection_after_the_freeze_walks_almost_nothing() -> None:
    """In a fresh interpreter (a freeze is for the whole process), compared with itself
    just before: the modules' objects are frozen, so a full collection is a small
    fraction of what it was."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    young_raised, frozen, before_ms, after_ms = done.stdout.split()
    assert young_raised == "True"
    assert int(frozen) > 50_000
    assert float(after_ms) * 10 < float(before_ms)
