"""The worker's ComfyUI client: submit prompts, follow them, fetch their outputs.

Usage::

    from worker.comfyui import ClientConfig, ComfyUIClient, Finished, StepProgress

    async with ComfyUIClient(url, ClientConfig.from_timeout_ms(timeout_ms)) as comfy:
        result = await comfy.run(graph, prompt_id=job_id, on_event=publish)

Modules: ``client`` (the facade), ``transport`` (HTTP, error translation), ``websocket``
(the shared socket), ``follow`` (WS + polling fallback), ``messages`` (frame parsing),
``events``, ``outputs``, ``history``, ``progress``, ``errors`` (classification),
``catalogue`` (``/object_info`` summary), ``system`` (``/system_stats``, ``/queue``).
"""

from worker.comfyui.catalogue import BackendCatalogue, summarise
from worker.comfyui.client import (
    CancelOutcome,
    ComfyUIClient,
    Outcome,
    PromptResult,
    SubmittedPrompt,
    UploadedImage,
)
from worker.comfyui.config import ClientConfig
from worker.comfyui.errors import classify_execution_error, classify_rejection, is_out_of_memory
from worker.comfyui.events import (
    Event,
    ExecutionStarted,
    Failed,
    Finished,
    Interrupted,
    NodeExecuted,
    NodesCached,
    NodeStarted,
    NodeState,
    NodeStates,
    PreviewImage,
    QueueStatus,
    StepProgress,
    TerminalEvent,
)
from worker.comfyui.history import HistoryRecord
from worker.comfyui.outputs import OutputRef
from worker.comfyui.system import Device, QueueEntry, QueueSnapshot, SystemStats

__all__ = [
    "BackendCatalogue",
    "CancelOutcome",
    "ClientConfig",
    "ComfyUIClient",
    "Device",
    "Event",
    "ExecutionStarted",
    "Failed",
    "Finished",
    "HistoryRecord",
    "Interrupted",
    "NodeExecuted",
    "NodeStarted",
    "NodeState",
    "NodeStates",
    "NodesCached",
    "Outcome",
    "OutputRef",
    "PreviewImage",
    "PromptResult",
    "QueueEntry",
    "QueueSnapshot",
    "QueueStatus",
    "StepProgress",
    "SubmittedPrompt",
    "SystemStats",
    "TerminalEvent",
    "UploadedImage",
    "classify_execution_error",
    "classify_rejection",
    "is_out_of_memory",
    "summarise",
]
