"""The workflows shipped with the gateway, read from package data.

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
    BundledInfo(
        "img2img_v1",
        "Image to Image v1",
        "Repaints an input image after the prompt, SD 1.5: denoise 0 keeps the image, "
        "1 ignores it (default 0.6). The output has the input's size (multiples of 8).",
    ),
    BundledInfo(
        "inpaint_v1",
        "Inpaint v1",
        "Repaints only where a mask says, SD 1.5 (SetLatentNoiseMask): mask white = "
        "repaint (or mask_channel alpha: transparent = repaint); the rest is kept.",
    ),
    BundledInfo(
        "upscale_v1",
        "Upscale v1",
        "Enlarges an image by scale_by (default 2) with a resampling filter (lanczos); "
        "no model needed.",
    ),
    BundledInfo(
        "upscale_model_v1",
        "Upscale with model v1",
        "Enlarges an image with an upscale model installed on the backend "
        "(models/upscale_models, default RealESRGAN_x4plus.pth), then by scale_by. "
        "A backend without that model refuses the job.",
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
