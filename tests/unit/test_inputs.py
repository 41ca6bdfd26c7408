"""Input resolution: precedence, types from protobuf doubles, limits, seeds, unknown names."""

from __future__ import annotations

import random
from typing import Any

import pytest

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.workflows.inputs import InputLimits, resolve_inputs
from comfyui_gateway.workflows.schema import parse_input_schema
from comfyui_gateway.workflows.values import normalize_numbers

LIMITS = InputLimits(max_image_size=2048, max_batch_size=4)
SCHEMA = parse_input_schema(
    {
        "fields": {
            "prompt": {"type": "string", "required": True},
            "width": {"type": "integer", "default": 1024, "min": 64, "max": 4096},
            "height": {"type": "integer", "default": 1024, "min": 64, "max": 4096},
            "steps": {"type": "integer", "default": 30, "min": 1, "max": 150},
            "cfg": {"type": "number", "default": 7.0, "min": 1, "max": 30},
            "seed": {"type": "integer", "default": -1, "min": -1, "max": 2**53 - 1},
            "batch_size": {"type": "integer", "default": 1, "min": 1, "max": 64},
            "sampler": {"type": "string", "default": "euler", "enum": ["euler", "dpmpp_2m"]},
            "upscale": {"type": "integer", "default": 1, "enum": [1, 2]},
            "hires": {"type": "boolean", "default": False},
        }
    }
)


def _errors(inputs: dict[str, Any], default_params: dict[str, Any] | None = None) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        resolve_inputs(SCHEMA, default_params or {}, inputs, LIMITS)
    return {d["field"]: d["message"] for d in info.value.details}


def test_defaults_and_precedence() -> None:
    resolved = resolve_inputs(
        SCHEMA, {"steps": 20, "cfg": 5.5}, {"prompt": "p", "steps": 12}, LIMITS
    )
    # explicit input > defaultParams > schema default
    assert resolved.values["steps"] == 12
    assert resolved.values["cfg"] == 5.5
    assert resolved.values["width"] == 1024
    assert resolved.values["sampler"] == "euler" and resolved.values["hires"] is False


def test_struct_doubles_become_ints() -> None:
    resolved = resolve_inputs(
        SCHEMA,
        {},
        {"prompt": "p", "width": 512.0, "steps": 25.0, "cfg": 7.0, "upscale": 2.0, "seed": 5.0},
        LIMITS,
    )
    for name, expected in (("width", 512), ("steps", 25), ("cfg", 7), ("upscale", 2)):
        assert resolved.values[name] == expected and type(resolved.values[name]) is int
    assert resolved.seed == 5 and resolved.random_seed is False
    assert (
        type(resolve_inputs(SCHEMA, {}, {"prompt": "p", "cfg": 6.5}, LIMITS).values["cfg"]) is float
    )


def test_type_errors_name_each_field() -> None:
    errors = _errors(
        {
            "prompt": 3,
            "width": 512.5,
            "steps": "30",
            "cfg": True,
            "hires": 1,
            "seed": 2.0**60,
            "sampler": "lms",
            "upscale": 3,
        }
    )
    assert set(errors) == {
        "inputs.prompt",
        "inputs.width",
        "inputs.steps",
        "inputs.cfg",
        "inputs.hires",
        "inputs.seed",
        "inputs.sampler",
        "inputs.upscale",
    }
    assert errors["inputs.width"].startswith("must be an integer")
    assert "'euler', 'dpmpp_2m'" in errors["inputs.sampler"]


def test_required_bounds_and_unknown_names() -> None:
    errors = _errors({"steps": 0, "cfg": 31, "nsfw": True, "Width": 5})
    assert errors == {
        "inputs.prompt": "is required",
        "inputs.steps": "must be >= 1",
        "inputs.cfg": "must be <= 30",
        "inputs.nsfw": "unknown input for this workflow",
        "inputs.Width": "unknown input for this workflow",
    }


def test_deployment_limits() -> None:
    errors = _errors({"prompt": "p", "width": 4096, "height": 2049, "batch_size": 5})
    assert errors == {
        "inputs.width": "must be <= 2048 (MAX_IMAGE_SIZE)",
        "inputs.height": "must be <= 2048 (MAX_IMAGE_SIZE)",
        "inputs.batch_size": "must be <= 4 (MAX_BATCH_SIZE)",
    }
    ok = resolve_inputs(SCHEMA, {}, {"prompt": "p", "width": 2048, "batch_size": 4}, LIMITS)
    assert ok.values["width"] == 2048


def test_limits_apply_to_defaults_too() -> None:
    errors = _errors({"prompt": "p"}, default_params={"width": 3000})
    assert errors == {"inputs.width": "must be <= 2048 (MAX_IMAGE_SIZE)"}


def test_random_seed_is_drawn_and_reported() -> None:
    resolved = resolve_inputs(SCHEMA, {}, {"prompt": "p"}, LIMITS, rng=random.Random(7))
    assert resolved.random_seed is True
    assert resolved.seed is not None and resolved.seed == resolved.values["seed"]
    assert 0 <= resolved.seed < 2**53
    assert float(resolved.seed) == resolved.seed  # survives a JSON double
    explicit = resolve_inputs(SCHEMA, {}, {"prompt": "p", "seed": -1.0}, LIMITS)
    assert explicit.random_seed is True and explicit.seed != -1


def test_random_seed_respects_field_bounds() -> None:
    schema = parse_input_schema({"fields": {"seed": {"type": "integer", "min": 10, "max": 12}}})
    seeds = {
        resolve_inputs(schema, {}, {"seed": -1}, LIMITS, rng=random.Random(i)).seed
        for i in range(30)
    }
    assert seeds <= {10, 11, 12}


def test_null_input_means_default() -> None:
    resolved = resolve_inputs(SCHEMA, {}, {"prompt": "p", "steps": None}, LIMITS)
    assert resolved.values["steps"] == 30


def test_default_params_only_keys_are_inputs_typed_by_their_default() -> None:
    schema = parse_input_schema({})
    resolved = resolve_inputs(schema, {"style": "flat", "n": 2}, {"n": 3.0}, LIMITS)
    assert resolved.values == {"style": "flat", "n": 3}
    with pytest.raises(ValidationError, match=r"inputs\.n: must be an integer"):
        resolve_inputs(schema, {"n": 2}, {"n": "three"}, LIMITS)


def test_normalize_numbers_in_graphs() -> None:
    graph = {"3": {"inputs": {"model": ["4", 0.0], "cfg": 7.5, "steps": 30.0, "t": "1.0"}}}
    out = normalize_numbers(graph)
    assert out == {"3": {"inputs": {"model": ["4", 0], "cfg": 7.5, "steps": 30, "t": "1.0"}}}
    assert type(out["3"]["inputs"]["model"][1]) is int
    assert type(normalize_numbers(1e300)) is float  # beyond exact doubles: left alone


def test_keys_that_cannot_be_field_names_are_never_echoed() -> None:
    schema = parse_input_schema({"fields": {"prompt": {"type": "string", "required": True}}})
    hostile = {"prompt": "a", "<script>alert(1)</script>": 1, "k" * 5000: 2}
    with pytest.raises(ValidationError) as caught:
        resolve_inputs(schema, {}, hostile, LIMITS)
    assert caught.value.details == [
        {"field": "inputs", "message": "has keys that are not field names of this workflow"}
    ]
    assert "script" not in caught.value.message and "kkkk" not in caught.value.message
