"""Typed events of one prompt's life on ComfyUI, as the gateway's job stream consumes them.

Every event carries ``prompt_id`` and ``progress``, the client's 0-100 estimate for the
whole prompt at that moment (monotonic; 100 only on ``Finished``). A followed prompt ends
with exactly one terminal event: ``Finished``, ``Interrupted`` or ``Failed``.

ComfyUI message → event:
    status → QueueStatus, execution_start → ExecutionStarted,
    execution_cached → NodesCached, executing → NodeStarted, progress → StepProgress,
    progress_state → NodeStates, executed → NodeExecuted, binary frames → PreviewImage,
    execution_success → (history read) Finished, execution_error → Failed,
    execution_interrupted → Interrupted, executing{node:null} → PromptDone (internal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfyui_gateway.errors import ComfyUIError
from worker.comfyui.outputs import OutputRef


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; ``prompt_id`` is "" for messages ComfyUI sends without one."""

    prompt_id: str
    progress: float = 0.0


@dataclass(frozen=True, kw_only=True)
class QueueStatus(Event):
    """ComfyUI's queue length changed (running plus pending prompts, all clients)."""

    queue_remaining: int


@dataclass(frozen=True, kw_only=True)
class ExecutionStarted(Event):
    """The prompt left the queue and began executing."""


@dataclass(frozen=True, kw_only=True)
class NodesCached(Event):
    """These nodes will not run: their outputs come from ComfyUI's cache."""

    nodes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NodeStarted(Event):
    """A node began executing; ``node_type`` is its class when the graph is known."""

    node: str
    node_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepProgress(Event):
    """A node (a sampler, usually) reached step ``value`` of ``max`` (1-based)."""

    node: str
    value: int
    max: int


@dataclass(frozen=True)
class NodeState:
    """One node's entry in a ``progress_state`` message."""

    value: float
    max: float
    state: str


@dataclass(frozen=True, kw_only=True)
class NodeStates(Event):
    """ComfyUI's accumulated per-node state (``running`` / ``finished``) for the prompt."""

    nodes: dict[str, NodeState]


@dataclass(frozen=True, kw_only=True)
class NodeExecuted(Event):
    """An output node finished; ``outputs`` are its files and texts."""

    node: str
    output: dict[str, Any]
    outputs: tuple[OutputRef, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PreviewImage(Event):
    """A preview frame (sampler latent preview or SaveImageWebsocket image)."""

    node: str | None
    image_type: str
    data: bytes = field(repr=False)
    ahead_of_progress: bool = False
    """True for frames with metadata (event 4): ComfyUI sends them before the step's
    ``progress`` message, plain frames (event 1) come after it."""


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """Terminal: the prompt succeeded; ``outputs`` is everything its history lists."""

    outputs: tuple[OutputRef, ...]


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    """Terminal: stopped by ``/interrupt`` (or ``removed`` from the queue before running).

    The gateway maps this to ``cancelled``.
    """

    node: str | None = None
    node_type: str | None = None
    removed: bool = False


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    """Terminal: ``error`` is the classified failure (node error, OOM, timeout, unreachable)."""

    error: ComfyUIError


@dataclass(frozen=True, kw_only=True)
class ExecutionSucceeded(Event):
    """Internal: ``execution_success`` arrived; the outputs are read from history next."""


@dataclass(frozen=True, kw_only=True)
class ExecutionFailed(Event):
    """Internal: ``execution_error`` arrived with ComfyUI's payload, not yet classified."""

    payload: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PromptDone(Event):
    """Internal: ``executing`` with ``node: null``, ComfyUI is done with the prompt."""


TerminalEvent = Finished | Interrupted | Failed
