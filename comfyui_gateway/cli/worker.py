"""``comfyui-gateway worker``: a worker process for the shared (Redis) mode.

One process serves one ComfyUI backend and runs one job at a time; run
``MAX_CONCURRENCY`` of them per backend (``dev`` does) so that backend's queue always
holds the next prompt. Every process listens to the same priority queues, so jobs
spread over all backends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from comfyui_gateway.cli import event_loop
from comfyui_gateway.config import Settings
from worker.rq_worker import run_rq_worker

log = logging.getLogger("comfyui_gateway.worker")


class WorkerConfigError(Exception):
    """Raised when a worker is started without what it needs (Redis, one backend)."""


def choose_backend(settings: Settings, backends: Sequence[str]) -> str:
    if not settings.REDIS_URL:
        raise WorkerConfigError(
            "REDIS_URL is empty: separate workers share work through Redis. "
            "Without Redis, `comfyui-gateway run` runs the workers in its own process."
        )
    candidates = list(backends) or settings.comfyui_urls
    if len(candidates) != 1:
        raise WorkerConfigError(
            f"a worker serves one backend: pass --backend URL (COMFYUI_URL lists {len(candidates)})"
        )
    return candidates[0].rstrip("/")


def run_worker(settings: Settings, backends: Sequence[str], *, burst: bool = False) -> None:
    from comfyui_gateway.db.revision import current_revision

    # Reach the database once before taking jobs: a bad DATABASE_URL is one clear line
    # at start-up (see comfyui_gateway.db.problems), not a stream of failing rounds.
    current_revision(settings.DATABASE_URL)
    run_rq_worker(
        settings,
        choose_backend(settings, backends),
        burst=burst,
        loop_factory=event_loop.new_event_loop,
    )
