"""Parsing ComfyUI's WebSocket frames into events."""

from __future__ import annotations

import json
import struct
from typing import Any

from worker.comfyui.events import (
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
from worker.comfyui.messages import parse_binary, parse_text
from worker.comfyui.outputs import OutputRef


def frame(kind: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": kind, "data": data})


def test_every_text_message_type() -> None:
    p = {"prompt_id": "p"}
    assert parse_text(
        frame("status", {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "x"})
    ) == (QueueStatus(prompt_id="", queue_remaining=2))
    assert parse_text(frame("execution_start", {**p, "timestamp": 1})) == ExecutionStarted(
        prompt_id="p"
    )
    assert parse_text(frame("execution_cached", {**p, "nodes": ["4", "5"]})) == NodesCached(
        prompt_id="p", nodes=("4", "5")
    )
    assert parse_text(frame("executing", {**p, "node": "3", "display_node": "3"})) == NodeStarted(
        prompt_id="p", node="3"
    )
    assert parse_text(frame("executing", {"node": "3"})) == NodeStarted(prompt_id="", node="3")
    assert parse_text(frame("executing", {**p, "node": None})) == PromptDone(prompt_id="p")
    assert parse_text(frame("progress", {**p, "value": 2, "max": 20, "node": "3"})) == StepProgress(
        prompt_id="p", node="3", value=2, max=20
    )
    state = {"value": 1, "max": 1, "state": "finished", "node_id": "4"}
    assert parse_text(frame("progress_state", {**p, "nodes": {"4": state}})) == NodeStates(
        prompt_id="p", nodes={"4": NodeState(1.0, 1.0, "finished")}
    )
    output = {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}
    executed = parse_text(frame("executed", {**p, "node": "9", "output": output}))
    assert isinstance(executed, NodeExecuted)
    assert executed.outputs == (OutputRef(node="9", kind="images", filename="a.png"),)
    assert parse_text(frame("execution_success", p)) == ExecutionSucceeded(prompt_id="p")
    error = {**p, "node_id": "3", "exception_type": "RuntimeError"}
    assert parse_text(frame("execution_error", error)) == ExecutionFailed(
        prompt_id="p", payload=error
    )
    interrupted = {**p, "node_id": "3", "node_type": "KSampler", "executed": []}
    assert parse_text(frame("execution_interrupted", interrupted)) == Interrupted(
        prompt_id="p", node="3", node_type="KSampler"
    )


def test_unknown_or_broken_frames_are_ignored() -> None:
    assert parse_text("not json") is None
    assert parse_text(frame("crystools.monitor", {"cpu": 3})) is None
    assert parse_text(json.dumps({"type": "status"})) is None
    assert parse_binary(b"\x00\x00") is None
    assert parse_binary(struct.pack(">II", 3, 0) + b"text") is None


def test_binary_previews() -> None:
    jpeg = parse_binary(struct.pack(">II", 1, 1) + b"\xff\xd8data")
    assert jpeg == PreviewImage(
        prompt_id="", node=None, image_type="image/jpeg", data=b"\xff\xd8data"
    )
    png = parse_binary(struct.pack(">II", 1, 2) + b"\x89PNG")
    assert png is not None and png.image_type == "image/png"
    metadata = json.dumps(
        {"node_id": "3", "prompt_id": "p", "display_node_id": "3", "image_type": "image/jpeg"}
    )
    raw = struct.pack(">II", 4, len(metadata)) + metadata.encode() + b"img"
    assert parse_binary(raw) == PreviewImage(
        prompt_id="p", node="3", image_type="image/jpeg", data=b"img", ahead_of_progress=True
    )
