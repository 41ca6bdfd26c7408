"""A one-line text progress bar for ``generate(progress_bar=True)``."""

from __future__ import annotations

import sys
from typing import TextIO

from comfyui_gateway_client.v1 import jobs_pb2

WIDTH = 30


class ProgressBar:
    """Callable on each JobEvent; redraws ``[#####     ]  45% running KSampler 9/20``.

    Usage: ``gw.generate(..., on_progress=ProgressBar())``.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr

    def __call__(self, event: jobs_pb2.JobEvent) -> None:
        filled = int(WIDTH * min(max(event.progress, 0.0), 100.0) / 100)
        line = f"[{'#' * filled}{' ' * (WIDTH - filled)}] {event.progress:5.1f}% {event.status}"
        if event.node_type:
            line += f" {event.node_type}"
        if event.max_steps:
            line += f" {event.step}/{event.max_steps}"
        end = "\n" if event.type == "terminal" else ""
        self._stream.write(f"\r{line:<79}{end}")
        self._stream.flush()
