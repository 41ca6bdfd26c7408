"""The bundled media workflows against the recorded 0.3.64 node specs.

The emulator's ``catalogue.json`` holds the recording's classes verbatim (checked below
when the recording is present); rendered with defaults and with every enum value and
bound, each graph must pass the same checks ComfyUI's prompt validation makes.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from comfyui_emulator.tools.extract_catalogue import extract
from comfyui_gateway.workflows import (
    BUNDLED,
    InputLimits,
    NodeCatalogue,
    load_bundled_workflow,
    prepare_prompt,
    validate_definition,
)
from comfyui_gateway.workflows.template import find_tokens
from tests.media_workflows import (
    MEDIA_TYPES,
    MEDIA_WORKFLOWS,
    emulator_object_info,
    read,
    render_defaults,
)
from tests.unit.test_workflow_bundled import check_against_specs

RECORDING = Path("/work/shared/comfyui/object_info-0.3.64.json")
MEDIA = {"image": "photo.png", "mask": "mask.png"}
OBJECT_INFO = emulator_object_info()


def _inputs(workflow_id: str) -> dict[str, Any]:
    fields = read(workflow_id)[1]["fields"]
    given = {name: MEDIA[name] for name in MEDIA if name in fields}
    return {"prompt": "a red fox", **given} if "prompt" in fields else given


@pytest.mark.skipif(not RECORDING.exists(), reason="the 0.3.64 recording is not on this machine")
def test_emulator_catalogue_is_the_recording() -> None:
    text = resources.files("comfyui_emulator").joinpath("catalogue.json").read_text("utf-8")
    assert json.loads(text) == extract(json.loads(RECORDING.read_text("utf-8")))


@pytest.mark.parametrize("workflow_id", MEDIA_WORKFLOWS)
def test_core_nodes_only(workflow_id: str) -> None:
    for node in read(workflow_id)[0].values():
        module = OBJECT_INFO[node["class_type"]]["python_module"]
        assert module == "nodes" or module.startswith("comfy_extras."), node


@pytest.mark.parametrize("workflow_id", MEDIA_WORKFLOWS)
def test_every_token_has_a_field_with_a_default_or_required(workflow_id: str) -> None:
    graph, schema = read(workflow_id)
    fields = schema["fields"]
    assert find_tokens(graph) == set(fields)
    for name, field in fields.items():
        assert field.get("required") is True or "default" in field, name
        if field["type"] in MEDIA_TYPES:
            assert field["required"] is True and field["type"] == name  # image / mask


@pytest.mark.parametrize("workflow_id", MEDIA_WORKFLOWS)
def test_rendered_defaults_satisfy_node_specs(workflow_id: str) -> None:
    graph = render_defaults(workflow_id, **_inputs(workflow_id))
    assert check_against_specs(graph, OBJECT_INFO) == []


@pytest.mark.parametrize("workflow_id", MEDIA_WORKFLOWS)
def test_every_enum_value_and_bound_satisfies_node_specs(workflow_id: str) -> None:
    fields = read(workflow_id)[1]["fields"]
    variants: list[dict[str, Any]] = [
        {name: value} for name, field in fields.items() for value in field.get("enum", [])
    ]
    variants += [
        {name: field[bound]}
        for name, field in fields.items()
        for bound in ("min", "max")
        if bound in field and name != "seed"
    ]
    assert variants
    for variant in variants:
        graph = render_defaults(workflow_id, **_inputs(workflow_id), **variant)
        assert check_against_specs(graph, OBJECT_INFO) == [], variant


def _chain(graph: dict[str, Any], node_id: str) -> list[str]:
    """Class names from the SaveImage back along the first linked input of each node."""
    classes: list[str] = []
    while True:
        node = graph[node_id]
        classes.append(node["class_type"])
        links = [
            value[0]
            for name, value in sorted(node["inputs"].items())
            if isinstance(value, list)
            and name in ("images", "image", "samples", "pixels", "latent_image")
        ]
        if not links:
            return classes
        node_id = links[0]


@pytest.mark.parametrize(
    ("workflow_id", "chain"),
    [
        ("img2img_v1", ["SaveImage", "VAEDecode", "KSampler", "VAEEncode", "LoadImage"]),
        (
            "inpaint_v1",
            [
                "SaveImage",
                "VAEDecode",
                "KSampler",
                "SetLatentNoiseMask",
                "VAEEncode",
                "LoadImage",
            ],
        ),
        ("upscale_v1", ["SaveImage", "ImageScaleBy", "LoadImage"]),
        (
            "upscale_model_v1",
            ["SaveImage", "ImageScaleBy", "ImageUpscaleWithModel", "LoadImage"],
        ),
    ],
)
def test_graph_shapes(workflow_id: str, chain: list[str]) -> None:
    graph = render_defaults(workflow_id, **_inputs(workflow_id))
    save = next(k for k, n in graph.items() if n["class_type"] == "SaveImage")
    assert _chain(graph, save) == chain
    sampler = next((n for n in graph.values() if n["class_type"] == "KSampler"), None)
    if sampler is not None:
        assert sampler["inputs"]["denoise"] == read(workflow_id)[1]["fields"]["denoise"]["default"]
        loader = next(n for n in graph.values() if n["class_type"] == "CheckpointLoaderSimple")
        assert loader["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"


def test_inpaint_mask_feeds_the_noise_mask() -> None:
    graph = render_defaults("inpaint_v1", **_inputs("inpaint_v1"))
    mask_id = next(k for k, n in graph.items() if n["class_type"] == "LoadImageMask")
    assert graph[mask_id]["inputs"] == {"image": "mask.png", "channel": "red"}
    noise = next(n for n in graph.values() if n["class_type"] == "SetLatentNoiseMask")
    assert noise["inputs"]["mask"] == [mask_id, 0]


def test_checker_sees_media_problems() -> None:
    """The spec checker is not vacuous for the new classes."""
    graph = render_defaults("inpaint_v1", **_inputs("inpaint_v1"), mask_channel="purple")
    graph["3"]["inputs"]["denoise"] = 1.5
    graph["11"]["inputs"]["mask"] = ["1", 0]  # IMAGE into MASK
    assert len(check_against_specs(graph, OBJECT_INFO)) == 3


# -- through the gateway's own workflow code (schema types image/mask from media-in) --


@pytest.mark.parametrize("workflow_id", MEDIA_WORKFLOWS)
def test_bundled_and_valid_against_the_catalogue(workflow_id: str) -> None:
    assert workflow_id in [info.id for info in BUNDLED]
    catalogue = NodeCatalogue.from_object_info(OBJECT_INFO)
    validate_definition(load_bundled_workflow(workflow_id), catalogue)


@pytest.mark.parametrize("workflow_id", MEDIA_WORKFLOWS)
def test_prepared_prompts_satisfy_node_specs(workflow_id: str) -> None:
    """prepare_prompt with media values already resolved to ComfyUI names, as the
    submission hands them over (``gateway/<sha256>.<ext>``)."""
    definition = validate_definition(load_bundled_workflow(workflow_id))
    given = {
        key: f"gateway/{'ab' * 32}.png" if key in MEDIA else value
        for key, value in _inputs(workflow_id).items()
    }
    prepared = prepare_prompt(
        definition.workflow_json,
        definition.input_schema,
        definition.default_params,
        given,
        InputLimits(max_image_size=2048, max_batch_size=4),
        rng=random.Random(0),
    )
    assert check_against_specs(prepared.graph, OBJECT_INFO) == []
    loader = next(n for n in prepared.graph.values() if n["class_type"] == "LoadImage")
    assert loader["inputs"]["image"] == given["image"]
