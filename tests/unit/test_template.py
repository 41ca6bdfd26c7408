"""Rendering rules: typed whole tokens, text substitution, no re-expansion, no mutation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.workflows.template import find_tokens, render, text_of, whole_token

TEMPLATE: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": "{{seed}}",
            "steps": "{{ steps }}",
            "cfg": "{{cfg}}",
            "denoise": 1,
            "model": ["4", 0],
        },
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "{{prompt}}, in the style of {{style}}", "clip": ["4", 1]},
        "_meta": {"title": "Prompt {{style}}"},
    },
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "{{prefix}}", "x": True}},
}
VALUES: dict[str, Any] = {
    "seed": 42,
    "steps": 30,
    "cfg": 7.5,
    "prompt": "a cat",
    "style": "{{seed}}",
    "prefix": "out",
}


def test_whole_tokens_keep_their_type() -> None:
    out = render(TEMPLATE, VALUES)
    assert out["3"]["inputs"]["seed"] == 42 and isinstance(out["3"]["inputs"]["seed"], int)
    assert out["3"]["inputs"]["steps"] == 30
    assert out["3"]["inputs"]["cfg"] == 7.5
    assert out["3"]["inputs"]["model"] == ["4", 0]
    assert out["9"]["inputs"]["x"] is True


def test_embedded_tokens_are_text_and_not_re_expanded() -> None:
    out = render(TEMPLATE, VALUES)
    assert out["6"]["inputs"]["text"] == "a cat, in the style of {{seed}}"
    assert out["6"]["_meta"]["title"] == "Prompt {{seed}}"


def test_whole_token_string_value_is_not_re_expanded() -> None:
    out = render({"1": {"class_type": "X", "inputs": {"t": "{{a}}"}}}, {"a": "{{b}}", "b": 1})
    assert out["1"]["inputs"]["t"] == "{{b}}"


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), ('x"y', 'x"y'), (1e-7, "1e-07")],
)
def test_text_of(value: Any, text: str) -> None:
    assert text_of(value) == text


def test_template_is_not_mutated() -> None:
    before = copy.deepcopy(TEMPLATE)
    render(TEMPLATE, VALUES)
    assert before == TEMPLATE


def test_missing_and_non_scalar_values_are_named() -> None:
    with pytest.raises(ValidationError) as info:
        render(TEMPLATE, {"seed": [1, 2], "steps": {"a": 1}})
    fields = [d["field"] for d in info.value.details]
    assert fields == [
        "inputs.cfg",
        "inputs.prefix",
        "inputs.prompt",
        "inputs.style",
        "inputs.seed",
        "inputs.steps",
    ]


def test_token_helpers() -> None:
    assert whole_token("{{a}}") == "a" and whole_token(" {{a}}") is None
    assert whole_token("{{a}}{{b}}") is None
    assert find_tokens(TEMPLATE) == {"seed", "steps", "cfg", "prompt", "style", "prefix"}
    assert find_tokens({"{{key}}": "x"}) == set()  # keys are never templates
    assert find_tokens("{{ not a token }} {{1bad}} {x}") == set()


def test_keys_are_never_templated() -> None:
    out = render({"{{a}}": {"class_type": "X", "inputs": {"{{a}}": "{{a}}"}}}, {"a": "v"})
    assert out == {"{{a}}": {"class_type": "X", "inputs": {"{{a}}": "v"}}}
