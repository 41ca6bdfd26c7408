"""What a prompt produced, as typed references to files (or text) on the ComfyUI side.

A history entry's ``outputs`` maps node id → ``{kind: [item, ...]}``. ``kind`` is whatever
the node reported: ``images`` (SaveImage, PreviewImage), ``gifs`` / ``videos``
(VideoHelperSuite, SaveVideo), ``audio`` (SaveAudio), ``text`` (PreviewAny), ``3d``...
Items that name a file become file refs, strings become text refs; other values (such as
SaveAnimatedWEBP's ``animated: [true]`` flags) are not outputs.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OutputRef:
    """One output of one node: a file ComfyUI serves from ``/view``, or a text value.

    ``type`` is ComfyUI's folder: ``output`` (kept), ``temp`` (previews, wiped when ComfyUI
    restarts) or ``input``.
    """

    node: str
    kind: str
    filename: str | None = None
    subfolder: str = ""
    type: str = "output"
    text: str | None = None
    format: str | None = None

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    @property
    def is_temp(self) -> bool:
        return self.type == "temp"

    @property
    def content_type(self) -> str:
        """A best guess from the name (or the node's own ``format``), for storage."""
        if self.text is not None:
            return "text/plain; charset=utf-8"
        if self.format and "/" in self.format:
            return self.format
        guessed = mimetypes.guess_type(self.filename or "")[0]
        return guessed or "application/octet-stream"

    def view_params(self) -> dict[str, str]:
        """The ``GET /view`` query for this file."""
        if self.filename is None:
            raise ValueError(f"output of node {self.node} is text, not a file")
        return {"filename": self.filename, "subfolder": self.subfolder, "type": self.type}


def parse_node_output(node: str, output: Mapping[str, Any]) -> list[OutputRef]:
    """The refs in one node's ``output`` dict (from history or an ``executed`` message)."""
    refs: list[OutputRef] = []
    for kind, items in output.items():
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("filename"), str):
                refs.append(
                    OutputRef(
                        node=node,
                        kind=kind,
                        filename=item["filename"],
                        subfolder=str(item.get("subfolder") or ""),
                        type=str(item.get("type") or "output"),
                        format=item.get("format") if isinstance(item.get("format"), str) else None,
                    )
                )
            elif isinstance(item, str):
                refs.append(OutputRef(node=node, kind=kind, text=item, type="text"))
    return refs


def parse_outputs(outputs: Mapping[str, Any]) -> tuple[OutputRef, ...]:
    """All refs of a history entry's ``outputs``, node by node in ComfyUI's order."""
    refs: list[OutputRef] = []
    for node, output in outputs.items():
        if isinstance(output, dict):
            refs.extend(parse_node_output(str(node), output))
    return tuple(refs)
