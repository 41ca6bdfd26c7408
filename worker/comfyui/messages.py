"""Parsing ComfyUI's WebSocket frames into events (pure functions, no I/O).

Text frames are ``{"type": ..., "data": {...}}``. Binary frames start with a big-endian
``uint32`` event: 1 = preview image (``uint32`` format, 1 JPEG / 2 PNG, then the bytes),
4 = preview with metadata (``uint32`` JSON length, the JSON naming node and prompt, then
the bytes). Unknown types return None, so a newer ComfyUI cannot break the client.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from worker.comfyui.events import (
    Event,
    ExecutionFailed,
    ExecutionStarted,
    ExecutionSucceeded,
    Interrupted,
    NodeExecuted,
    NodesCached,
    NodeStarted,
    NodeState,
    NodeStates,
    PreviewImage,
    PromptDone,
    QueueStatus,
    StepProgress,
)
from worker.comfyui.outputs import parse_node_output

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_FORMATS = {1: "image/jpeg", 2: "image/png"}


def _prompt_id(data: dict[str, Any]) -> str:
    value = data.get("prompt_id")
    return value if isinstance(value, str) else ""


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_text(raw: str) -> Event | None:
    """One text frame as an event; None for frames the client does not use."""
    try:
        message = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        return None
    kind, data = message.get("type"), message["data"]
    prompt_id = _prompt_id(data)
    if kind == "status":
        info = (
            data.get("status", {}).get("exec_info", {})
            if isinstance(data.get("status"), dict)
            else {}
        )
        return QueueStatus(prompt_id="", queue_remaining=_int(info.get("queue_remaining")))
    if kind == "execution_start":
        return ExecutionStarted(prompt_id=prompt_id)
    if kind == "execution_cached":
        return NodesCached(prompt_id=prompt_id, nodes=tuple(str(n) for n in data.get("nodes", [])))
    if kind == "executing":
        node = data.get("node")
        if node is None:
            return PromptDone(prompt_id=prompt_id)
        return NodeStarted(prompt_id=prompt_id, node=str(node))
    if kind == "progress":
        return StepProgress(
            prompt_id=prompt_id,
            node=str(data.get("node")),
            value=_int(data.get("value")),
            max=_int(data.get("max"), 1),
        )
    if kind == "progress_state":
        nodes = {
            str(node_id): NodeState(
                value=float(state.get("value", 0)),
                max=float(state.get("max", 1)),
                state=str(state.get("state", "")),
            )
            for node_id, state in data.get("nodes", {}).items()
            if isinstance(state, dict)
        }
        return NodeStates(prompt_id=prompt_id, nodes=nodes)
    if kind == "executed":
        node = str(data.get("node"))
        output = data.get("output") if isinstance(data.get("output"), dict) else {}
        assert isinstance(output, dict)
        return NodeExecuted(
            prompt_id=prompt_id,
            node=node,
            output=output,
            outputs=tuple(parse_node_output(node, output)),
        )
    if kind == "execution_success":
        return ExecutionSucceeded(prompt_id=prompt_id)
    if kind == "execution_error":
        return ExecutionFailed(prompt_id=prompt_id, payload=data)
    if kind == "execution_interrupted":
        node_id, node_type = data.get("node_id"), data.get("node_type")
        return Interrupted(
            prompt_id=prompt_id,
            node=str(node_id) if node_id is not None else None,
            node_type=str(node_type) if node_type is not None else None,
        )
    return None


def parse_binary(raw: bytes) -> PreviewImage | None:
    """One binary frame as a preview; None for event types the client does not use."""
    if len(raw) < 8:
        return None
    (event,) = struct.unpack(">I", raw[:4])
    if event == PREVIEW_IMAGE:
        (fmt,) = struct.unpack(">I", raw[4:8])
        return PreviewImage(
            prompt_id="", node=None, image_type=_FORMATS.get(fmt, "image/jpeg"), data=raw[8:]
        )
    if event == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack(">I", raw[4:8])
        try:
            metadata = json.loads(raw[8 : 8 + length])
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(metadata, dict):
            return None
        node = metadata.get("display_node_id") or metadata.get("node_id")
        return PreviewImage(
            prompt_id=_prompt_id(metadata),
            node=str(node) if node is not None else None,
            image_type=str(metadata.get("image_type", "image/jpeg")),
            data=raw[8 + length :],
            ahead_of_progress=True,
        )
    return None
