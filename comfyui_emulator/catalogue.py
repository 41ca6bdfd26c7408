"""The node classes the emulator carries, with model lists filled from its folders.

``catalogue.json`` is extracted from a real ComfyUI's ``/object_info`` by
``tools/extract_catalogue.py``; the combos that list model files come out empty there and
are filled here, per request, from the configured model names and the input folder, the
same way a real server rescans its folders.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from comfyui_emulator.config import EmulatorConfig

#: (class, input) → folder whose files fill that combo.
MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("VAELoader", "vae_name"): "vae",
    ("LoadImage", "image"): "input",
    ("LoadImageMask", "image"): "input_all",
}

#: The folder names ``GET /models`` lists on ComfyUI 0.3.64.
MODEL_FOLDERS: tuple[str, ...] = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
)


@cache
def _load() -> dict[str, Any]:
    text = resources.files("comfyui_emulator").joinpath("catalogue.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def model_files(config: EmulatorConfig, folder: str) -> list[str] | None:
    """The files a real server would find in model ``folder``; None for an unknown folder."""
    if folder == "checkpoints":
        return sorted(config.checkpoints)
    if folder == "loras":
        return sorted(config.loras)
    if folder == "upscale_models":
        return sorted(config.upscale_models)
    if folder == "vae":
        return sorted(config.vaes)
    if folder in MODEL_FOLDERS:
        return []
    return None


class Catalogue:
    """Object-info lookups for validation, execution and ``GET /object_info``.

    Usage: ``Catalogue(config, list_inputs, list_all_inputs).object_info()``:
    ``list_inputs`` gives the image files LoadImage lists, ``list_all_inputs`` every file
    at the top of input/ (what LoadImageMask lists).
    """

    def __init__(
        self,
        config: EmulatorConfig,
        list_inputs: Callable[[], list[str]],
        list_all_inputs: Callable[[], list[str]] | None = None,
    ) -> None:
        self._config = config
        self._list_inputs = list_inputs
        self._list_all_inputs = list_all_inputs or list_inputs

    def has(self, class_type: str) -> bool:
        return class_type in _load()

    def names(self) -> list[str]:
        return list(_load())

    def static(self, class_type: str) -> dict[str, Any]:
        """The class entry without model lists: enough for output types and flags."""
        entry: dict[str, Any] = _load()[class_type]
        return entry

    def entry(self, class_type: str) -> dict[str, Any]:
        """The class entry as ``/object_info`` shows it, model lists filled in."""
        entry: dict[str, Any] = copy.deepcopy(_load()[class_type])
        for category in ("required", "optional"):
            for name, spec in entry["input"].get(category, {}).items():
                folder = MODEL_INPUTS.get((class_type, name))
                if folder is None:
                    continue
                files = self._files(folder)
                if class_type == "VAELoader":
                    files = [*files, "pixel_space"]
                if spec[0] == "COMBO":
                    spec[1]["options"] = files
                else:
                    spec[0] = files
        return entry

    def object_info(self) -> dict[str, Any]:
        return {name: self.entry(name) for name in _load()}

    def _files(self, folder: str) -> list[str]:
        if folder == "input":
            return self._list_inputs()
        if folder == "input_all":
            return self._list_all_inputs()
        return model_files(self._config, folder) or []
