"""The three workflows shipped with the gateway, read from package data.

Each is ``bundled/<id>.json`` (API-format graph with ``{{tokens}}``) plus
``bundled/<id>.schema.json`` (its input schema, which carries every default, so
``defaultParams`` is empty). ``comfyui-gateway init`` registers them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from comfyui_gateway.workflows.definition import WorkflowDefinition


@dataclass(frozen=True)
class BundledInfo:
    """Name and description of a bundled workflow (the files hold graph and schema)."""

    id: str
    name: str
    description: str


BUNDLED: tuple[BundledInfo, ...] = (
    BundledInfo(
        "sdxl_realism_v1",
        "SDXL Realism v1",
        "Photorealistic generation with SDXL base: portraits, landscapes, product shots. "
        "1024x1024, 30 steps, cfg 7.0, dpmpp_2m/karras.",
    ),
    BundledInfo(
        "sprite_transparent_bg",
        "Sprite Transparent BG",
        "2D game sprites with a real alpha channel: rendered on a plain white background "
        "that a brightness threshold turns transparent. 512x512, 25 steps, cfg 7.5.",
    ),
    BundledInfo(
        "icon_512",
        "Icon 512",
        "Square app icons with clean edges, SDXL base. 512x512, 20 steps, cfg 6.0, "
        "optional 2x upscale (upscale_factor 2).",
    ),
)


def _read_json(filename: str) -> dict[str, Any]:
    text = (resources.files("comfyui_gateway.workflows") / "bundled" / filename).read_text(
        encoding="utf-8"
    )
    data = json.loads(text)
    if not isinstance(data, dict):  # pragma: no cover - guarded by tests
        raise ValueError(f"bundled/{filename} is not a JSON object")
    return data


def load_bundled_workflow(workflow_id: str) -> WorkflowDefinition:
    """One bundled workflow as a definition ready for ``validate_definition``."""
    for info in BUNDLED:
        if info.id == workflow_id:
            return WorkflowDefinition(
                id=info.id,
                name=info.name,
                description=info.description,
                workflow_json=_read_json(f"{info.id}.json"),
                input_schema=_read_json(f"{info.id}.schema.json"),
                default_params={},
            )
    raise KeyError(workflow_id)


def load_bundled() -> list[WorkflowDefinition]:
    """All bundled workflows, in a stable order."""
    return [load_bundled_workflow(info.id) for info in BUNDLED]
