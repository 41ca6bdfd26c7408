"""Property tests: whatever the inputs hold, rendering never changes the graph's shape."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from comfyui_gateway.workflows.template import find_tokens, render, text_of

HOSTILE_FRAGMENTS = [
    '"',
    "'",
    "\\",
    '\\"',
    "\x00",
    "{{",
    "}}",
    "{{other}}",
    "{{ prompt }}",
    "{{seed}}",
    '"], "class_type": "Evil", "inputs": {"x": ["1", 0]}}, "99": {"',
    '{"99": {"class_type": "Evil"}}',
    '["4", 0]',
    "\n\r\t",
    "é☕𝔘ñ\u202e",
    "null",
    "true",
    "${x}",
    "%s",
]
TOKENS = ["prompt", "other", "seed", "steps", "flag"]
INPUT_NAMES = ["text", "seed", "clip", "model", "width", "ckpt_name", "{{prompt}}", "a b"]

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_FRAGMENTS), st.text(max_size=8)), max_size=6
).map("".join)
scalar = st.one_of(
    hostile_text,
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
values_strategy = st.fixed_dictionaries({name: scalar for name in TOKENS})

literal = st.one_of(
    st.text(max_size=6), st.integers(-5, 5), st.booleans(), st.floats(allow_nan=False)
)
template_string = st.lists(
    st.one_of(st.sampled_from([f"{{{{{t}}}}}" for t in TOKENS]), st.text(max_size=5)),
    min_size=1,
    max_size=4,
).map("".join)


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    node_ids = draw(st.lists(st.integers(1, 50).map(str), min_size=1, max_size=6, unique=True))
    graph: dict[str, Any] = {}
    for node_id in node_ids:
        input_names = draw(st.lists(st.sampled_from(INPUT_NAMES), max_size=5, unique=True))
        inputs: dict[str, Any] = {}
        for name in input_names:
            inputs[name] = draw(
                st.one_of(
                    template_string,
                    literal,
                    st.tuples(st.sampled_from(node_ids), st.integers(0, 3)).map(list),
                )
            )
        node: dict[str, Any] = {"class_type": draw(st.sampled_from(["A", "B", "KSampler"]))}
        node["inputs"] = inputs
        if draw(st.booleans()):
            node["_meta"] = {"title": draw(template_string)}
        graph[node_id] = node
    return graph


def _shape(graph: dict[str, Any]) -> Any:
    """Node ids, class types, input keys and links: what must never change."""
    return {
        node_id: (
            node["class_type"],
            sorted(node["inputs"]),
            {k: v for k, v in node["inputs"].items() if isinstance(v, list)},
            sorted(node.get("_meta", {})),
        )
        for node_id, node in graph.items()
    }


@settings(max_examples=100, deadline=None)
@given(graphs(), values_strategy)
def test_rendering_preserves_structure(graph: dict[str, Any], values: dict[str, Any]) -> None:
    rendered = render(graph, values)
    assert _shape(rendered) == _shape(graph)
    # What goes to ComfyUI is JSON: serialising and parsing back keeps the same shape.
    wire = json.loads(json.dumps(rendered))
    assert _shape(wire) == _shape(graph)


@settings(max_examples=100, deadline=None)
@given(graphs(), values_strategy)
def test_values_land_exactly_where_tokens_were(
    graph: dict[str, Any], values: dict[str, Any]
) -> None:
    rendered = render(graph, values)
    for node_id, node in graph.items():
        for key, template in node["inputs"].items():
            out = rendered[node_id]["inputs"][key]
            if not isinstance(template, str):
                assert out == template
                continue
            tokens = find_tokens(template)
            if (
                template.startswith("{{")
                and template.endswith("}}")
                and template.count("{{") == 1
                and tokens
            ):
                (name,) = tokens
                assert out == values[name] and type(out) is type(values[name])
            elif tokens:
                assert isinstance(out, str)
                expected = template
                # Substitute right-to-left by position so replacements are never rescanned.
                matches = list(re.finditer(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", template))
                for match in reversed(matches):
                    expected = (
                        expected[: match.start()]
                        + text_of(values[match.group(1)])
                        + expected[match.end() :]
                    )
                assert out == expected
            else:
                assert out == template


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_a_value_that_looks_like_a_token_is_inert(value: str) -> None:
    graph = {"1": {"class_type": "A", "inputs": {"a": "{{prompt}}", "b": "x {{prompt}} y"}}}
    rendered = render(graph, {"prompt": value})
    assert rendered["1"]["inputs"] == {"a": value, "b": f"x {value} y"}
