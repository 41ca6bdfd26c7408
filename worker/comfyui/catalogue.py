"""``GET /object_info`` summarised: which node classes a backend has and which models.

The full answer is about 500 KB; workers publish this summary instead (node class names
and model lists) for ``/health``, ``/capabilities`` and workflow preflight checks. Model
lists are read from the combo inputs of the loader nodes, in either combo form
(legacy ``[[names...], {...}]`` or V3 ``["COMBO", {"options": [...]}]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: input name → model folder, for inputs whose name says what they list.
INPUT_FOLDERS: dict[str, str] = {
    "ckpt_name": "checkpoints",
    "lora_name": "loras",
    "vae_name": "vae",
    "control_net_name": "controlnet",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "clip_name4": "text_encoders",
    "style_model_name": "style_models",
    "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks",
    "photomaker_model_name": "photomaker",
}
#: (class, input) → folder, for inputs whose name is too generic (``model_name``).
CLASS_INPUT_FOLDERS: dict[tuple[str, str], str] = {
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
}
#: Entries that are not files (VAELoader always offers these).
NOT_FILES = frozenset({"pixel_space", "taesd", "taesdxl", "taesd3", "taef1"})


def combo_options(spec: Any) -> list[str] | None:
    """The options of a combo input spec, or None when the input is not a combo."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [str(option) for option in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return [str(option) for option in spec[1].get("options", [])]
    return None


@dataclass(frozen=True)
class BackendCatalogue:
    """Node classes and model files of one backend; JSON-safe through ``to_dict``."""

    node_classes: frozenset[str]
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def checkpoints(self) -> tuple[str, ...]:
        return self.models.get("checkpoints", ())

    @property
    def loras(self) -> tuple[str, ...]:
        return self.models.get("loras", ())

    @property
    def vae(self) -> tuple[str, ...]:
        return self.models.get("vae", ())

    @property
    def upscale_models(self) -> tuple[str, ...]:
        return self.models.get("upscale_models", ())

    def missing_classes(self, class_types: Iterable[str]) -> set[str]:
        """The classes a workflow needs that this backend lacks."""
        return set(class_types) - self.node_classes

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeClasses": sorted(self.node_classes),
            "models": {folder: list(names) for folder, names in self.models.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendCatalogue:
        return cls(
            frozenset(data.get("nodeClasses", [])),
            {folder: tuple(names) for folder, names in data.get("models", {}).items()},
        )


def summarise(object_info: Mapping[str, Any]) -> BackendCatalogue:
    """Reduce a full ``/object_info`` answer to a catalogue."""
    models: dict[str, set[str]] = {}
    for class_name, entry in object_info.items():
        inputs = entry.get("input", {}) if isinstance(entry, dict) else {}
        for category in ("required", "optional"):
            specs = inputs.get(category, {})
            for input_name, spec in specs.items() if isinstance(specs, dict) else ():
                folder = CLASS_INPUT_FOLDERS.get((class_name, input_name)) or INPUT_FOLDERS.get(
                    input_name
                )
                options = combo_options(spec)
                if folder is None or options is None:
                    continue
                models.setdefault(folder, set()).update(o for o in options if o not in NOT_FILES)
    return BackendCatalogue(
        frozenset(object_info), {folder: tuple(sorted(names)) for folder, names in models.items()}
    )
