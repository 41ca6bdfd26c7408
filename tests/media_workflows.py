"""The bundled media workflows (image inputs) read from package data, rendered without the
gateway: schema defaults plus the given inputs, media fields given as ComfyUI file names
(what the worker substitutes after uploading). Shared by the unit and emulator tests."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from comfyui_emulator import EmulatorConfig
from comfyui_emulator.catalogue import Catalogue
from comfyui_gateway.workflows.template import render

MEDIA_WORKFLOWS = ("img2img_v1", "inpaint_v1", "upscale_v1", "upscale_model_v1")
MEDIA_TYPES = ("image", "mask", "file")


def read(workflow_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(graph, input schema) of a bundled workflow."""
    folder = resources.files("comfyui_gateway.workflows") / "bundled"
    graph = json.loads((folder / f"{workflow_id}.json").read_text("utf-8"))
    schema = json.loads((folder / f"{workflow_id}.schema.json").read_text("utf-8"))
    return graph, schema


def render_defaults(workflow_id: str, **inputs: Any) -> dict[str, Any]:
    """The graph with every default filled in, ``inputs`` on top; seed -1 becomes 1234."""
    graph, schema = read(workflow_id)
    values = {
        name: field["default"] for name, field in schema["fields"].items() if "default" in field
    }
    values.update(inputs)
    if values.get("seed") == -1:
        values["seed"] = 1234
    rendered: dict[str, Any] = render(graph, values)
    return rendered


def emulator_object_info(input_files: list[str] | None = None) -> dict[str, Any]:
    """``/object_info`` of a default emulator: the recording's specs, its model lists."""
    files = list(input_files or [])
    return Catalogue(EmulatorConfig(), lambda: files, lambda: files).object_info()
