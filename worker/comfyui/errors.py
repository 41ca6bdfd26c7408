"""Classifying ComfyUI's failures into the gateway's error tree (``comfyui_gateway.errors``).

Decisions:
- ``execution_error`` is ComfyUIOutOfMemory when ``exception_type`` is a PyTorch OOM type,
  else when the message has one of the OOM phrases; otherwise ComfyUINodeError.
- A 400 from ``POST /prompt`` is ComfyUINodeError, not ValidationError: the gateway has
  already validated the caller's inputs against the workflow schema, so a rejection by
  ComfyUI means the workflow does not fit this backend (unknown node, missing model,
  bad link), which is COMFYUI_NODE_ERROR's "check workflow", not the caller's mistake.
  ComfyUI's ``error`` and ``node_errors`` are kept in ``details``.
- Details never carry tracebacks or ``current_inputs`` (they hold prompt text, which
  privacy mode must keep out of the database).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comfyui_gateway.errors import ComfyUIError, ComfyUINodeError, ComfyUIOutOfMemory

OOM_EXCEPTION_TYPES = frozenset(
    {"torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError", "OutOfMemoryError"}
)
OOM_PHRASES = (
    "cuda out of memory",
    "allocation on device",
    "allocator backend out of memory",
    "failed to allocate",
    "out of memory",
)


def is_out_of_memory(exception_type: str | None, message: str | None) -> bool:
    """Type first (exact PyTorch OOM classes), then the phrases PyTorch and ComfyUI use."""
    if exception_type and (
        exception_type in OOM_EXCEPTION_TYPES or exception_type.endswith(".OutOfMemoryError")
    ):
        return True
    lowered = (message or "").lower()
    return any(phrase in lowered for phrase in OOM_PHRASES)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def classify_execution_error(payload: Mapping[str, Any]) -> ComfyUIError:
    """An ``execution_error`` payload (WS message or history) as a gateway error."""
    node_id = payload.get("node_id")
    node_type = payload.get("node_type")
    exception_type = payload.get("exception_type")
    message = str(payload.get("exception_message") or "")
    details = {
        "promptId": payload.get("prompt_id"),
        "nodeId": node_id,
        "nodeType": node_type,
        "exceptionType": exception_type,
        "comfyuiMessage": message.strip(),
    }
    if is_out_of_memory(exception_type, message):
        return ComfyUIOutOfMemory(details=details)
    summary = _first_line(message) or str(exception_type or "unknown error")
    return ComfyUINodeError(f"Node {node_id} ({node_type}) failed: {summary}", details=details)


def classify_rejection(status: int, body: Any) -> ComfyUINodeError:
    """A 400 from ``POST /prompt`` (validation failed) as a node error with ComfyUI's report."""
    error = body.get("error") if isinstance(body, dict) else None
    node_errors = body.get("node_errors") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    node_errors = node_errors if isinstance(node_errors, dict) else {}
    node_id, node_type, reason = None, None, ""
    for candidate, entry in node_errors.items():
        if isinstance(entry, dict):
            node_id, node_type = candidate, entry.get("class_type")
            errors = entry.get("errors") or [{}]
            first = errors[0] if isinstance(errors[0], dict) else {}
            reason = f"{first.get('message', '')}: {first.get('details', '')}".strip(": ")
            break
    message = str(error.get("message") or f"ComfyUI rejected the prompt (HTTP {status})")
    if node_id is not None:
        message = f"{message}: node {node_id} ({node_type}): {reason}"
    elif error.get("details"):
        message = f"{message}: {error['details']}"
    details = {
        "nodeId": node_id,
        "nodeType": node_type,
        "errorType": error.get("type"),
        "comfyuiMessage": error.get("message"),
        "nodeErrors": _without_tracebacks(node_errors),
    }
    return ComfyUINodeError(message, details=details)


def _without_tracebacks(node_errors: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's node_errors minus the Python tracebacks some reasons carry."""
    cleaned: dict[str, Any] = {}
    for node_id, entry in node_errors.items():
        if not isinstance(entry, dict):
            continue
        reasons = []
        for reason in entry.get("errors", []):
            if isinstance(reason, dict):
                extra = reason.get("extra_info")
                if isinstance(extra, dict) and "traceback" in extra:
                    extra = {k: v for k, v in extra.items() if k != "traceback"}
                    reason = {**reason, "extra_info": extra}
                reasons.append(reason)
        cleaned[node_id] = {**entry, "errors": reasons}
    return cleaned
