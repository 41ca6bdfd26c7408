"""Graph checks at registration: every problem at once, with and without a catalogue."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.workflows import NodeCatalogue, WorkflowDefinition, validate_definition
from comfyui_gateway.workflows.catalogue import combo_values
from comfyui_gateway.workflows.graph import check_graph
from comfyui_gateway.workflows.schema import effective_fields, parse_input_schema

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "object_info_subset.json"
OBJECT_INFO: dict[str, Any] = json.loads(FIXTURE.read_text())["object_info"]
OBJECT_INFO["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = [
    "sd_xl_base_1.0.safetensors"
]
CATALOGUE = NodeCatalogue.from_object_info(OBJECT_INFO)

GRAPH: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": "{{width}}", "height": 512, "batch_size": 1},
    },
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": "{{seed}}",
            "steps": 20,
            "cfg": 7,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["6", 0],
            "latent_image": ["5", 0],
        },
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
}
SCHEMA: dict[str, Any] = {
    "fields": {
        "prompt": {"type": "string", "required": True},
        "width": {"type": "integer", "default": 512},
        "checkpoint": {"type": "string", "default": "sd_xl_base_1.0.safetensors"},
    }
}


def _fields(schema: dict[str, Any] = SCHEMA, params: dict[str, Any] | None = None) -> Any:
    return effective_fields(parse_input_schema(schema), params or {"seed": -1})


def _problems(graph: Any, catalogue: NodeCatalogue | None = CATALOGUE, **kw: Any) -> dict[str, str]:
    return {p["field"]: p["message"] for p in check_graph(graph, _fields(**kw), catalogue).items}


def test_valid_graph_with_and_without_catalogue() -> None:
    assert _problems(GRAPH) == {}
    assert _problems(GRAPH, catalogue=None) == {}


@pytest.mark.parametrize("graph", [[], {}, "x", None])
def test_not_an_api_graph(graph: Any) -> None:
    assert list(_problems(graph)) == ["workflowJson"]


def test_ui_format_is_recognised() -> None:
    (message,) = _problems({"nodes": [], "links": [], "version": 0.4}).values()
    assert "Export (API)" in message


def test_every_structural_problem_is_reported() -> None:
    graph = copy.deepcopy(GRAPH)
    graph["3"]["inputs"]["model"] = ["99", 0]  # missing node
    graph["3"]["inputs"]["positive"] = ["6"]  # malformed link
    graph["3"]["inputs"]["negative"] = ["{{node}}", 0]  # templated link
    graph["8"]["inputs"]["vae"] = ["4", 7]  # output index out of range
    graph["6"]["inputs"]["text"] = "{{prompt}} {{undeclared}}"
    graph["7"] = {"inputs": {}}  # no class_type
    graph["10"] = {"class_type": "NoSuchNode", "inputs": {}}
    graph["11"] = {"class_type": "{{cls}}", "inputs": {}}
    graph["12"] = "not a node"
    graph["13"] = {"class_type": "VAEDecode", "inputs": {"samples": {"a": 1}, "{{k}}": 1}}
    problems = _problems(graph)
    assert set(problems) == {
        "workflowJson.3.inputs.model",
        "workflowJson.3.inputs.positive",
        "workflowJson.3.inputs.negative",
        "workflowJson.3.inputs.negative[0]",  # and {{node}} is not declared either
        "workflowJson.8.inputs.vae",
        "workflowJson.6.inputs.text",
        "workflowJson.7.class_type",
        "workflowJson.10.class_type",
        "workflowJson.11.class_type",
        "workflowJson.12",
        "workflowJson.13.inputs.samples",
        "workflowJson.13.inputs.{{k}}",
        "workflowJson.13.inputs.vae",
    }
    assert "does not exist" in problems["workflowJson.3.inputs.model"]
    assert "has 3 output(s)" in problems["workflowJson.8.inputs.vae"]
    assert "{{undeclared}}" in problems["workflowJson.6.inputs.text"]
    assert "unknown node class 'NoSuchNode'" in problems["workflowJson.10.class_type"]
    assert "required input of VAEDecode" in problems["workflowJson.13.inputs.vae"]


def test_models_and_combos_are_checked() -> None:
    graph = copy.deepcopy(GRAPH)
    graph["3"]["inputs"]["sampler_name"] = "bogus"
    graph["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    problems = _problems(graph)
    assert set(problems) == {
        "workflowJson.3.inputs.sampler_name",
        "workflowJson.4.inputs.ckpt_name",
    }
    assert "'missing.safetensors' is not available" in problems["workflowJson.4.inputs.ckpt_name"]


def test_templated_model_is_checked_through_default_and_enum() -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["fields"]["checkpoint"] = {
        "type": "string",
        "default": "sd_xl_base_1.0.safetensors",
        "enum": ["sd_xl_base_1.0.safetensors", "other.safetensors"],
    }
    problems = _problems(GRAPH, schema=schema)
    assert list(problems) == ["workflowJson.4.inputs.ckpt_name"]
    assert "'other.safetensors'" in problems["workflowJson.4.inputs.ckpt_name"]
    # defaultParams outranks the schema default, so it is the one checked.
    problems = _problems(GRAPH, params={"seed": -1, "checkpoint": "nope.ckpt"})
    assert "'nope.ckpt'" in problems["workflowJson.4.inputs.ckpt_name"]


def test_tokens_covered_by_default_params_only() -> None:
    schema = {"fields": {"prompt": {"type": "string"}}}
    problems = _problems(GRAPH, schema=schema, params={"seed": 1})
    assert set(problems) == {"workflowJson.4.inputs.ckpt_name", "workflowJson.5.inputs.width"}
    ok = _problems(
        GRAPH,
        schema=schema,
        params={"seed": 1, "width": 512, "checkpoint": "sd_xl_base_1.0.safetensors"},
    )
    assert ok == {}


def test_cycles_are_reported() -> None:
    graph = copy.deepcopy(GRAPH)
    graph["4"]["inputs"]["loop"] = ["8", 0]
    problems = _problems(graph, catalogue=None)
    assert any("cycle" in message for message in problems.values())


def test_graph_without_output_node() -> None:
    graph = {k: v for k, v in GRAPH.items() if k != "9"}
    assert "no output node" in _problems(graph)["workflowJson"]


def test_definition_reports_schema_graph_and_id_problems_together() -> None:
    definition = WorkflowDefinition(
        id="bad id/..",
        name="",
        workflow_json={"1": {"class_type": "X", "inputs": {"t": "{{nope}}"}}},
        input_schema={"fields": {"a": {"type": "float"}}},
        default_params={"b": [1]},
    )
    with pytest.raises(ValidationError) as info:
        validate_definition(definition)
    fields = [d["field"] for d in info.value.details]
    assert fields == [
        "id",
        "name",
        "inputSchema.fields.a.type",
        "defaultParams.b",
        "workflowJson.1.inputs.t",
    ]


def test_definition_normalises_struct_doubles() -> None:
    definition = WorkflowDefinition(
        id="w",
        name="W",
        workflow_json=json.loads(json.dumps(GRAPH).replace(", 0]", ", 0.0]")),
        input_schema=SCHEMA,
        default_params={"seed": -1.0},
    )
    checked = validate_definition(definition, CATALOGUE)
    assert checked.workflow_json["3"]["inputs"]["model"] == ["4", 0]
    assert type(checked.workflow_json["3"]["inputs"]["model"][1]) is int
    assert checked.default_params == {"seed": -1}


def test_combo_forms() -> None:
    assert combo_values([["a", "b"], {}]) == ("a", "b")
    assert combo_values(["COMBO", {"options": ["x"], "multiselect": False}]) == ("x",)
    assert combo_values([["example.png"], {"image_upload": True}]) is None
    assert combo_values(["INT", {"min": 0}]) is None
    assert CATALOGUE.models() == ("sd_xl_base_1.0.safetensors",)
    assert CATALOGUE.output_count("CheckpointLoaderSimple") == 3
    assert "SaveImage" in CATALOGUE.output_nodes and "LoadImage" in CATALOGUE.classes
