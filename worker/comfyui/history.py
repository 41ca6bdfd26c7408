"""Reading ``GET /history/{id}``: ComfyUI's record of a finished prompt.

Two shapes exist: current servers answer ``{prompt_id: entry}`` (``{}`` when unknown);
some old ones answered the bare entry. Old entries may lack ``status`` altogether, in which
case having outputs is taken as success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.comfyui.outputs import OutputRef, parse_outputs


@dataclass(frozen=True)
class HistoryRecord:
    """A finished prompt as ComfyUI remembers it."""

    prompt_id: str
    status: str
    completed: bool
    outputs: tuple[OutputRef, ...]
    messages: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def succeeded(self) -> bool:
        return self.status == "success" or (self.status == "" and self.completed)

    def last(self, *kinds: str) -> dict[str, Any] | None:
        """The payload of the last status message of one of ``kinds``."""
        for kind, data in reversed(self.messages):
            if kind in kinds:
                payload: dict[str, Any] = data
                return payload
        return None


def parse_history(prompt_id: str, body: Any) -> HistoryRecord | None:
    """The record for ``prompt_id`` in a ``/history/{id}`` answer; None when absent."""
    if not isinstance(body, dict):
        return None
    entry = body.get(prompt_id)
    if not isinstance(entry, dict):
        entry = body if ("outputs" in body or "status" in body) else None
    if entry is None:
        return None
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    assert isinstance(outputs, dict)
    status = entry.get("status") if isinstance(entry.get("status"), dict) else None
    messages: list[tuple[str, dict[str, Any]]] = []
    if status is not None:
        for message in status.get("messages", []):
            if (
                isinstance(message, list | tuple)
                and len(message) == 2
                and isinstance(message[1], dict)
            ):
                messages.append((str(message[0]), message[1]))
        status_str = str(status.get("status_str") or "")
        completed = bool(status.get("completed"))
    else:
        status_str, completed = "", bool(outputs)
    return HistoryRecord(prompt_id, status_str, completed, parse_outputs(outputs), tuple(messages))
