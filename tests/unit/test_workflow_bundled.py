"""The bundled workflows against real node specs (tests/fixtures/object_info_subset.json).

After rendering with defaults, and with every enum choice, each node must get every
required input, with the right type, inside min/max, in combo lists, and links must
join matching types. This is what ComfyUI's own prompt validation would check.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from comfyui_gateway.workflows import (
    BUNDLED,
    InputLimits,
    NodeCatalogue,
    load_bundled,
    load_bundled_workflow,
    prepare_prompt,
    validate_definition,
)
from comfyui_gateway.workflows.graph import link_target

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "object_info_subset.json"
OBJECT_INFO: dict[str, Any] = json.loads(FIXTURE.read_text())["object_info"]
# The capture had no checkpoints installed; the emulator lists these two.
EMULATOR_CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
OBJECT_INFO["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = EMULATOR_CHECKPOINTS
LIMITS = InputLimits(max_image_size=2048, max_batch_size=4)
IDS = [info.id for info in BUNDLED]
#: The text-to-image workflows; the media ones (image inputs) are in test_workflow_media.
TXT2IMG_IDS = ["sdxl_realism_v1", "sprite_transparent_bg", "icon_512"]


#: Loaders whose ``image`` ComfyUI checks by file existence (VALIDATE_INPUTS), not by list.
FILE_INPUTS = {("LoadImage", "image"), ("LoadImageMask", "image")}


def _spec(object_info: dict[str, Any], class_type: str, name: str) -> list[Any]:
    inputs = object_info[class_type]["input"]
    spec = inputs.get("required", {}).get(name) or inputs.get("optional", {}).get(name)
    assert spec is not None, f"{class_type} has no input {name}"
    return list(spec)


def _combo(kind: Any, opts: dict[str, Any]) -> list[Any] | None:
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        return list(opts.get("options", []))
    return None


def check_against_specs(
    graph: dict[str, Any], object_info: dict[str, Any] | None = None
) -> list[str]:
    """Problems ComfyUI would report for ``graph`` (empty when it would accept it)."""
    object_info = OBJECT_INFO if object_info is None else object_info
    problems: list[str] = []
    for node_id, node in graph.items():
        class_type = node["class_type"]
        info = object_info.get(class_type)
        if info is None:
            problems.append(f"{node_id}: unknown class {class_type}")
            continue
        missing = set(info["input"].get("required", {})) - set(node["inputs"])
        problems += [f"{node_id}.{m}: missing" for m in sorted(missing)]
        for name, value in node["inputs"].items():
            where = f"{node_id}.{class_type}.{name}={value!r}"
            spec = _spec(object_info, class_type, name)
            kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
            target = link_target(value)
            if target is not None:
                source = graph[target[0]]["class_type"]
                produced = object_info[source]["output"][target[1]]
                if produced != kind:
                    problems.append(f"{where}: link gives {produced}, wants {kind}")
                continue
            options = _combo(kind, opts)
            if options is not None:
                if (class_type, name) in FILE_INPUTS:
                    ok = isinstance(value, str) and bool(value)
                    problems += [] if ok else [f"{where}: not a file name"]
                elif value not in options:
                    problems.append(f"{where}: not in combo list")
                continue
            if kind == "INT":
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif kind == "FLOAT":
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            elif kind == "STRING":
                ok = isinstance(value, str)
            elif kind == "BOOLEAN":
                ok = isinstance(value, bool)
            else:
                ok = False  # a non-link value for a socket type
            if not ok:
                problems.append(f"{where}: wrong type for {kind}")
                continue
            if "min" in opts and value < opts["min"]:
                problems.append(f"{where}: below min {opts['min']}")
            if "max" in opts and value > opts["max"]:
                problems.append(f"{where}: above max {opts['max']}")
    return problems


def _render(workflow_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    definition = validate_definition(load_bundled_workflow(workflow_id))
    prepared = prepare_prompt(
        definition.workflow_json,
        definition.input_schema,
        definition.default_params,
        inputs,
        LIMITS,
        rng=random.Random(0),
    )
    return prepared.graph


def test_bundled_workflows() -> None:
    media = ["img2img_v1", "inpaint_v1", "upscale_v1", "upscale_model_v1"]
    assert TXT2IMG_IDS + media == IDS
    assert [d.id for d in load_bundled()] == IDS


@pytest.mark.parametrize("workflow_id", TXT2IMG_IDS)
def test_valid_against_the_catalogue(workflow_id: str) -> None:
    catalogue = NodeCatalogue.from_object_info(OBJECT_INFO)
    validate_definition(load_bundled_workflow(workflow_id), catalogue)


@pytest.mark.parametrize("workflow_id", TXT2IMG_IDS)
def test_rendered_defaults_satisfy_node_specs(workflow_id: str) -> None:
    assert check_against_specs(_render(workflow_id, {"prompt": "a red fox"})) == []


@pytest.mark.parametrize("workflow_id", TXT2IMG_IDS)
def test_every_enum_value_and_bound_satisfies_node_specs(workflow_id: str) -> None:
    schema = load_bundled_workflow(workflow_id).input_schema["fields"]
    variants: list[dict[str, Any]] = []
    for name, field in schema.items():
        for value in field.get("enum", []):
            variants.append({name: value})
        for bound in ("min", "max"):
            if bound in field and name not in ("width", "height", "batch_size"):
                variants.append({name: field[bound]})
    variants.append({"width": 64, "height": 2048, "batch_size": 4})
    for variant in variants:
        graph = _render(workflow_id, {"prompt": "x", **variant})
        assert check_against_specs(graph) == [], variant


@pytest.mark.parametrize("workflow_id", TXT2IMG_IDS)
def test_common_inputs_are_accepted(workflow_id: str) -> None:
    fields = load_bundled_workflow(workflow_id).input_schema["fields"]
    common = {"prompt", "negative_prompt", "width", "height", "steps", "cfg", "seed"}
    assert common | {"batch_size", "checkpoint", "sampler", "scheduler"} <= set(fields)
    assert fields["prompt"]["required"] is True
    assert fields["seed"]["default"] == -1


@pytest.mark.parametrize(
    ("workflow_id", "size", "steps", "cfg", "checkpoint"),
    [
        ("sdxl_realism_v1", 1024, 30, 7.0, "sd_xl_base_1.0.safetensors"),
        ("sprite_transparent_bg", 512, 25, 7.5, "v1-5-pruned-emaonly.safetensors"),
        ("icon_512", 512, 20, 6.0, "sd_xl_base_1.0.safetensors"),
    ],
)
def test_documented_defaults(
    workflow_id: str, size: int, steps: int, cfg: float, checkpoint: str
) -> None:
    graph = _render(workflow_id, {"prompt": "p"})
    latent = next(n for n in graph.values() if n["class_type"] == "EmptyLatentImage")
    sampler = next(n for n in graph.values() if n["class_type"] == "KSampler")
    loader = next(n for n in graph.values() if n["class_type"] == "CheckpointLoaderSimple")
    assert (latent["inputs"]["width"], latent["inputs"]["height"]) == (size, size)
    assert sampler["inputs"]["steps"] == steps and sampler["inputs"]["cfg"] == cfg
    assert loader["inputs"]["ckpt_name"] == checkpoint
    assert 0 <= sampler["inputs"]["seed"] < 2**53


def test_sdxl_uses_dpmpp_2m_karras() -> None:
    sampler = _render("sdxl_realism_v1", {"prompt": "p"})["3"]["inputs"]
    assert (sampler["sampler_name"], sampler["scheduler"]) == ("dpmpp_2m", "karras")


def test_sprite_alpha_chain() -> None:
    """Decoded image -> brightness mask -> threshold (1 = background) -> alpha -> save.

    JoinImageWithAlpha inverts the MASK (1 = transparent), so the thresholded
    background mask is fed to it directly, with no InvertMask in between.
    """
    graph = _render("sprite_transparent_bg", {"prompt": "a knight"})
    by_class = {node["class_type"]: (node_id, node) for node_id, node in graph.items()}
    decode_id, _ = by_class["VAEDecode"]
    to_mask_id, to_mask = by_class["ImageToMask"]
    threshold_id, threshold = by_class["ThresholdMask"]
    join_id, join = by_class["JoinImageWithAlpha"]
    _, save = by_class["SaveImage"]
    assert "InvertMask" not in by_class
    assert to_mask["inputs"]["image"] == [decode_id, 0]
    assert threshold["inputs"]["mask"] == [to_mask_id, 0]
    assert join["inputs"] == {"image": [decode_id, 0], "alpha": [threshold_id, 0]}
    assert save["inputs"]["images"] == [join_id, 0]
    assert "white background" in graph["6"]["inputs"]["text"]


def test_icon_upscale_keeps_the_graph_shape() -> None:
    plain = _render("icon_512", {"prompt": "p", "upscale_factor": 1})
    doubled = _render("icon_512", {"prompt": "p", "upscale_factor": 2.0})

    def shape(graph: dict[str, Any]) -> Any:
        return {k: (n["class_type"], sorted(n["inputs"])) for k, n in graph.items()}

    assert shape(plain) == shape(doubled)
    scale = next(n for n in doubled.values() if n["class_type"] == "ImageScaleBy")
    assert scale["inputs"]["scale_by"] == 2
    assert check_against_specs(doubled) == []


def test_check_against_specs_catches_problems() -> None:
    """The checker used above is not vacuous."""
    graph = _render("sdxl_realism_v1", {"prompt": "p"})
    graph["3"]["inputs"]["steps"] = 0
    graph["3"]["inputs"]["sampler_name"] = "bogus"
    graph["8"]["inputs"]["vae"] = ["4", 0]
    del graph["5"]["inputs"]["batch_size"]
    assert len(check_against_specs(graph)) == 4
