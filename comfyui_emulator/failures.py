"""Failure injection: which prompt fails, how, and where.

A prompt asks for a failure through ``extra_data``::

    {"emulator": {"fail": "oom", "at_node": "3", "at_step": 2}}

and ``COMFYUI_EMULATOR_FAIL`` applies one to every prompt, written ``kind[@node][:step]``
(``oom``, ``oom@3:2``, ``crash:1``) or as the same JSON object. ``at_node`` defaults to the
first sampler of the graph (else the first node that runs); ``at_step`` only matters for
samplers and defaults to 1.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any


class FailureKind(enum.StrEnum):
    """What goes wrong."""

    OOM = "oom"  # execution_error with torch.OutOfMemoryError
    NODE_ERROR = "node_error"  # execution_error with an ordinary RuntimeError
    WS_DROP = "ws_drop"  # the client's WebSocket is cut (no close frame)
    WS_SILENCE = "ws_silence"  # no more WS messages for this prompt; history still completes
    CRASH = "crash"  # the whole server dies


@dataclass(frozen=True)
class FailurePlan:
    """One injected failure: ``kind`` at node ``at_node`` (sampler step ``at_step``)."""

    kind: FailureKind
    at_node: str | None = None
    at_step: int = 1

    @classmethod
    def from_json(cls, data: Any) -> FailurePlan | None:
        """Read ``extra_data["emulator"]``; anything malformed means no failure."""
        if not isinstance(data, dict) or "fail" not in data:
            return None
        try:
            kind = FailureKind(str(data["fail"]))
        except ValueError:
            return None
        at_node = data.get("at_node")
        try:
            at_step = max(1, int(data.get("at_step", 1)))
        except (TypeError, ValueError):
            at_step = 1
        return cls(kind, None if at_node is None else str(at_node), at_step)

    @classmethod
    def parse_env(cls, raw: str | None) -> FailurePlan | None:
        """Read ``COMFYUI_EMULATOR_FAIL``: ``kind[@node][:step]`` or a JSON object."""
        if raw is None or not raw.strip():
            return None
        raw = raw.strip()
        if raw.startswith("{"):
            plan = cls.from_json(json.loads(raw))
            if plan is None:
                raise ValueError(f"COMFYUI_EMULATOR_FAIL is not a failure plan: {raw!r}")
            return plan
        head, _, step = raw.partition(":")
        kind, _, node = head.partition("@")
        try:
            return cls(FailureKind(kind), node or None, int(step) if step else 1)
        except ValueError as exc:
            raise ValueError(
                f"COMFYUI_EMULATOR_FAIL must look like 'oom', 'oom@3' or 'oom@3:2', got {raw!r}"
            ) from exc


OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.25 GiB. GPU 0 has a total capacity of 7.78 GiB "
    "of which 1.06 GiB is free. Including non-PyTorch memory, this process has 6.70 GiB "
    "memory in use. Of the allocated memory 6.19 GiB is allocated by PyTorch, and 378.52 MiB "
    "is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try "
    "setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
    "documentation for Memory Management  "
    "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)
NODE_ERROR_MESSAGE = "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)"


class InjectedError(Exception):
    """Raised inside a node to produce an ``execution_error`` of a chosen type."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type


def injected_error(kind: FailureKind) -> InjectedError:
    """The exception a node raises for an OOM or node-error plan."""
    if kind is FailureKind.OOM:
        return InjectedError("torch.OutOfMemoryError", OOM_MESSAGE)
    return InjectedError("RuntimeError", NODE_ERROR_MESSAGE)
