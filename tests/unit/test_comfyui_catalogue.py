"""Summarising /object_info: node classes and model lists from loader combos."""

from __future__ import annotations

import json
from importlib import resources

from worker.comfyui.catalogue import BackendCatalogue, combo_options, summarise
from worker.comfyui.system import parse_queue, parse_system_stats


def test_model_lists_from_both_combo_forms() -> None:
    info = {
        "CheckpointLoaderSimple": {
            "input": {"required": {"ckpt_name": [["b.safetensors", "a.safetensors"], {}]}}
        },
        "UpscaleModelLoader": {
            "input": {"required": {"model_name": ["COMBO", {"options": ["4x.pth"]}]}}
        },
        "VAELoader": {
            "input": {"required": {"vae_name": [["sdxl_vae.safetensors", "pixel_space"]]}}
        },
        "LoraLoader": {
            "input": {
                "required": {"lora_name": [["l.safetensors"]], "strength_model": ["FLOAT", {}]}
            }
        },
        "CLIPVisionLoader": {"input": {"required": {"clip_name": [["vision.safetensors"]]}}},
        "ImageInvert": {"input": {"required": {"image": ["IMAGE"]}}},
    }
    catalogue = summarise(info)
    assert catalogue.checkpoints == ("a.safetensors", "b.safetensors")
    assert catalogue.upscale_models == ("4x.pth",)
    assert catalogue.vae == ("sdxl_vae.safetensors",)
    assert catalogue.loras == ("l.safetensors",)
    assert catalogue.models["clip_vision"] == ("vision.safetensors",)
    assert "ImageInvert" in catalogue.node_classes
    assert BackendCatalogue.from_dict(json.loads(json.dumps(catalogue.to_dict()))) == catalogue
    assert combo_options(["INT", {}]) is None


def test_the_emulator_catalogue_summarises() -> None:
    text = resources.files("comfyui_emulator").joinpath("catalogue.json").read_text("utf-8")
    catalogue = summarise(json.loads(text))
    assert "KSampler" in catalogue.node_classes and catalogue.checkpoints == ()


def test_system_stats_and_queue() -> None:
    stats = parse_system_stats(
        {
            "system": {"comfyui_version": "0.3.64", "os": "posix"},
            "devices": [
                {"name": "cpu", "type": "cpu", "index": None, "vram_total": 10, "vram_free": 4}
            ],
        }
    )
    assert stats.comfyui_version == "0.3.64" and stats.vram_total == 10 and stats.vram_free == 4
    queue = parse_queue(
        {
            "queue_running": [[3, "r", {}, {"client_id": "c"}, ["9"]]],
            "queue_pending": [[7, "b", {}, {}, ["9"]], [-2, "a", {}, {}, ["9"]]],
        }
    )
    assert queue.is_running("r") and queue.running[0].client_id == "c"
    assert queue.position("r") == 0 and queue.position("a") == 1 and queue.position("b") == 2
    assert queue.position("x") is None and queue.depth == 3
