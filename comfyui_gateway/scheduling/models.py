"""The model files a rendered graph makes ComfyUI load, found by loader ``class_type``.

Loading a model is what a backend pays for when it switches (seconds to tens of
seconds for a checkpoint); the scheduler keeps jobs on the backend that already
holds their models. The names are the loader inputs as ComfyUI sees them (file
names under ``models/``); they are not free text, so they travel in clear in
queue entries even in privacy mode (privacy redacts prompts, not choices).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LOADER_INPUTS: Mapping[str, tuple[str, ...]] = {
    # Recorded catalogue (tests/fixtures/object_info_subset.json, the emulator's).
    "CheckpointLoaderSimple": ("ckpt_name",),
    "VAELoader": ("vae_name",),
    "LoraLoader": ("lora_name",),
    "LoraLoaderModelOnly": ("lora_name",),
    "UpscaleModelLoader": ("model_name",),
    # ComfyUI's other core loaders (nodes.py / comfy_extras), same input names there.
    "CheckpointLoader": ("ckpt_name",),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "ImageOnlyCheckpointLoader": ("ckpt_name",),
    "UNETLoader": ("unet_name",),
    "CLIPLoader": ("clip_name",),
    "DualCLIPLoader": ("clip_name1", "clip_name2"),
    "TripleCLIPLoader": ("clip_name1", "clip_name2", "clip_name3"),
    "CLIPVisionLoader": ("clip_name",),
    "ControlNetLoader": ("control_net_name",),
    "DiffControlNetLoader": ("control_net_name",),
    "StyleModelLoader": ("style_model_name",),
    "GLIGENLoader": ("gligen_name",),
    "HypernetworkLoader": ("hypernetwork_name",),
}
"""Loader ``class_type`` -> the inputs naming the file it loads."""


def job_models(graph: Mapping[str, Any]) -> tuple[str, ...]:
    """Sorted, distinct model names the graph's loader nodes name (literal strings only:
    an input wired to another node's output is a link, not a name)."""
    names: set[str] = set()
    for node in graph.values():
        if not isinstance(node, Mapping):
            continue
        fields = LOADER_INPUTS.get(str(node.get("class_type")), ())
        inputs = node.get("inputs")
        if not fields or not isinstance(inputs, Mapping):
            continue
        names.update(v for f in fields if isinstance(v := inputs.get(f), str) and v)
    return tuple(sorted(names))
