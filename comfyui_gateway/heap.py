"""Keep the cyclic garbage collector's pauses off a running process's event loop.

A full collection walks every object the collector tracks. The API process holds
~130,000 once started (modules, ORM mappers, protobuf descriptors, the gRPC server)
and ~120 more per open progress stream; serving a thousand watchers of one job it
paused 90-145 ms at a time, so every stream's events waited that long at once.

Two standard measures. Once a process has started, everything it holds is frozen
(``gc.freeze``): never collected, never walked again (it lives as long as the process
anyway). And the youngest generation is collected every ``YOUNG_THRESHOLD``
allocations instead of 700: nearly all of a request's objects die by reference count
first, so fewer are promoted towards the full collections on the way.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation (CPython's default: 700).
At 10,000 a young collection took ~3 ms here, and a thousand streams' events promoted
far fewer objects; the garbage it leaves a little longer is a few MB at most."""


def freeze_started_process() -> None:
    """Collect once, then freeze what survives and raise the young threshold; call when
    the process has finished starting, before it serves."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
