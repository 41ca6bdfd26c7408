"""Input-schema parsing: well-formed schemas pass, every problem is named with its path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.schema import (
    FieldSpec,
    InputSchema,
    check_text,
    effective_fields,
    parse_input_schema,
)


def _problems(raw: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_input_schema(raw)
    return {d["field"]: d["message"] for d in info.value.details}


def test_reference_schema_parses() -> None:
    schema = parse_input_schema(
        {
            "type": "object",
            "fields": {
                "prompt": {"type": "string", "required": True, "description": "Text prompt"},
                "seed": {"type": "number", "default": -1, "description": "Random seed"},
                "steps": {"type": "number", "default": 30, "min": 1, "max": 100},
                "cfg": {"type": "number", "default": 7.0, "min": 1, "max": 20},
            },
        }
    )
    assert schema.fields["prompt"].required is True
    assert schema.fields["seed"].default == -1
    assert schema.fields["cfg"].default == 7 and isinstance(schema.fields["cfg"].default, int)


@pytest.mark.parametrize("raw", [None, {}, {"type": "object"}, {"fields": {}}])
def test_empty_schemas(raw: Any) -> None:
    assert parse_input_schema(raw).fields == {}


def test_every_problem_is_reported_with_a_path() -> None:
    problems = _problems(
        {
            "type": "array",
            "extra": 1,
            "fields": {
                "a": {"type": "text"},
                "b": {"type": "integer", "min": 10, "max": 1},
                "c": {"type": "integer", "default": 2.5},
                "d": {"type": "string", "enum": ["x", 3]},
                "e": {"type": "number", "default": 50, "max": 10},
                "f": {"type": "string", "enum": ["x", "y"], "default": "z"},
                "g": {"type": "boolean", "min": 0},
                "h": {"type": "string", "maximum": 3},
                "bad-name": {"type": "string"},
                "i": {"type": "string", "required": "yes"},
                "j": {"type": "integer", "enum": []},
                "k": {"type": "integer", "enum": [1, 1.0]},
            },
        }
    )
    assert set(problems) == {
        "inputSchema.type",
        "inputSchema.extra",
        "inputSchema.fields.a.type",
        "inputSchema.fields.b.min",
        "inputSchema.fields.c.default",
        "inputSchema.fields.d.enum[1]",
        "inputSchema.fields.e.default",
        "inputSchema.fields.f.default",
        "inputSchema.fields.g.min",
        "inputSchema.fields.h.maximum",
        "inputSchema.fields.bad-name",
        "inputSchema.fields.i.required",
        "inputSchema.fields.j.enum",
        "inputSchema.fields.k.enum[1]",
    }
    assert "min (10) is greater than max (1)" in problems["inputSchema.fields.b.min"]
    assert "must be <= 10" in problems["inputSchema.fields.e.default"]


def test_message_summarises_and_details_list_all() -> None:
    with pytest.raises(ValidationError) as info:
        parse_input_schema({"fields": {f"f{i}": {"type": "nope"} for i in range(8)}})
    assert len(info.value.details) == 8
    assert "and 3 more" in info.value.message
    assert info.value.to_body()["error"] == "VALIDATION_ERROR"


def test_seed_minus_one_default_is_allowed_outside_bounds() -> None:
    schema = parse_input_schema({"fields": {"seed": {"type": "integer", "default": -1, "min": 0}}})
    assert schema.fields["seed"].default == -1


def test_integer_bounds_are_safe_integers() -> None:
    problems = _problems({"fields": {"n": {"type": "integer", "max": 2**64}}})
    assert "n.max" in next(iter(problems))


def test_effective_fields_precedence_and_inference() -> None:
    schema = InputSchema({"steps": FieldSpec("steps", "integer", default=30, min=1, max=50)})
    fields = effective_fields(schema, {"steps": 40.0, "style": "flat", "strength": 0.5})
    assert fields["steps"].default == 40 and fields["steps"].max == 50
    assert fields["style"] == FieldSpec("style", "string", default="flat")
    assert fields["strength"].type == "number"


def test_effective_fields_checks_default_params() -> None:
    from comfyui_gateway.workflows.problems import Problems

    schema = InputSchema({"steps": FieldSpec("steps", "integer", min=1, max=50)})
    problems = Problems()
    effective_fields(schema, {"steps": 99, "bad": [1], "x-y": 1}, problems)
    assert problems.fields() == ["defaultParams.steps", "defaultParams.bad", "defaultParams.x-y"]


def test_max_length_applies_to_string_fields_only_and_must_be_positive() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_input_schema(
            {
                "fields": {
                    "steps": {"type": "integer", "maxLength": 3},
                    "tag": {"type": "string", "maxLength": 0},
                    "note": {"type": "string", "maxLength": 4, "default": "too long"},
                }
            }
        )
    fields = {item["field"] for item in caught.value.details}
    assert fields == {
        "inputSchema.fields.steps.maxLength",
        "inputSchema.fields.tag.maxLength",
        "inputSchema.fields.note.default",
    }


@pytest.mark.parametrize(
    ("value", "max_chars", "problem"),
    [
        ("", None, "must not be empty"),
        (" \n", None, "must not be empty"),
        ("x" * 11, None, "must be at most 10 characters (maxLength)"),
        ("x" * 6, 5, "must be at most 5 characters (MAX_INPUT_STRING_CHARS)"),
        ("a\x00b", None, "must not contain control characters (tab and newline are allowed)"),
        ("a\tb\nc\r", None, None),
    ],
)
def test_free_text_rules(value: str, max_chars: int | None, problem: str | None) -> None:
    spec = parse_input_schema(
        {"fields": {"prompt": {"type": "string", "required": True, "maxLength": 10}}}
    ).fields["prompt"]
    problems = Problems()
    check_text(spec, value, "inputs.prompt", problems, max_chars)
    assert [item["message"] for item in problems.items] == ([problem] if problem else [])


def test_a_schema_is_parsed_once_and_a_bad_one_fails_every_time() -> None:
    raw = {"type": "object", "fields": {"steps": {"type": "integer", "default": 4}}}
    first = parse_input_schema(raw)
    assert parse_input_schema(json.loads(json.dumps(raw))) is first  # equal content: shared
    assert parse_input_schema({"fields": {"steps": {"type": "integer", "default": 5}}}) != first
    for _ in range(2):
        with pytest.raises(ValidationError):
            parse_input_schema({"fields": {"steps": {"type": "int"}}})
