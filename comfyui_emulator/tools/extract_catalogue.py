"""Extract the emulator's node catalogue from a real ComfyUI ``/object_info`` dump.

The emulator must answer ``/object_info`` with the same input specs, defaults, min/max and
combo values as a real server, but must never read the dump at run time. This script copies
the classes the emulator implements into ``comfyui_emulator/catalogue.json``, emptying the
model-file combos (those are filled at run time from the configured model folders, exactly
as a real server lists its files).

Usage::

    python -m comfyui_emulator.tools.extract_catalogue /path/to/object_info.json \
        [--out comfyui_emulator/catalogue.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: The classes the emulator executes; keep in step with ``comfyui_emulator.nodes``.
CLASSES: tuple[str, ...] = (
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "CLIPSetLastLayer",
    "EmptyLatentImage",
    "KSampler",
    "KSamplerAdvanced",
    "VAEDecode",
    "VAEEncode",
    "VAELoader",
    "SaveImage",
    "PreviewImage",
    "EmptyImage",
    "LoadImage",
    "ImageInvert",
    "ImageScale",
    "ImageScaleBy",
    "ImageToMask",
    "ThresholdMask",
    "InvertMask",
    "SolidMask",
    "JoinImageWithAlpha",
    "LatentUpscale",
    "LatentUpscaleBy",
    "ImageBlur",
    "ImageSharpen",
    "SaveImageWebsocket",
    "PreviewAny",
    "LoraLoader",
    "LoraLoaderModelOnly",
    "UpscaleModelLoader",
    "ImageUpscaleWithModel",
    "LoadImageMask",
    "VAEEncodeForInpaint",
    "SetLatentNoiseMask",
    "MaskToImage",
)

#: (class, input) pairs whose combo lists are model files, filled at run time.
MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("VAELoader", "vae_name"): "vae",
    ("LoadImage", "image"): "input",
    ("LoadImageMask", "image"): "input_all",
}


def _empty_combo(spec: list[Any]) -> list[Any]:
    """Return ``spec`` with its option list emptied, in whichever combo form it uses."""
    if spec and spec[0] == "COMBO":
        opts = dict(spec[1]) if len(spec) > 1 else {}
        opts["options"] = []
        return ["COMBO", opts]
    return [[], *spec[1:]]


def extract(object_info: dict[str, Any]) -> dict[str, Any]:
    """Pick ``CLASSES`` out of ``object_info`` and blank the model-file combos."""
    missing = [name for name in CLASSES if name not in object_info]
    if missing:
        raise SystemExit(f"object_info lacks classes: {', '.join(missing)}")
    out: dict[str, Any] = {}
    for name in CLASSES:
        entry = json.loads(json.dumps(object_info[name]))
        for category in ("required", "optional"):
            inputs = entry["input"].get(category, {})
            for input_name, spec in inputs.items():
                if (name, input_name) in MODEL_INPUTS:
                    inputs[input_name] = _empty_combo(spec)
        out[name] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: read the dump, write the catalogue."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("object_info", type=Path, help="a real server's GET /object_info")
    default_out = Path(__file__).resolve().parent.parent / "catalogue.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    catalogue = extract(json.loads(args.object_info.read_text(encoding="utf-8")))
    args.out.write_text(json.dumps(catalogue, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(catalogue)} classes to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
