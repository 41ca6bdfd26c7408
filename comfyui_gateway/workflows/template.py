"""Rendering ``{{token}}`` templates into ComfyUI graphs, safely.

Rules:
- A string that is exactly one token (``"{{steps}}"``, whitespace inside the braces
  allowed) becomes the input's typed value: numbers stay numbers, booleans booleans.
- Tokens inside a longer string are replaced by the value's text: strings as they are,
  booleans as ``true``/``false``, numbers in their shortest JSON form.
- Replacement is one pass: text that a value brings in (``{{other}}``, quotes, braces,
  JSON fragments) is never scanned again.
- The graph is walked as data, never as serialised JSON, and only *values* that are
  strings are touched: keys, list shapes and links cannot change, so no input can add,
  remove or rewire nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from comfyui_gateway.workflows.problems import Problems

TOKEN_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def whole_token(value: str) -> str | None:
    """The token name if ``value`` is exactly one token, else ``None``."""
    match = TOKEN_PATTERN.fullmatch(value)
    return match.group(1) if match else None


def iter_tokens(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(token name, path)`` for every token in string values, at any depth."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_tokens(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_tokens(item, f"{path}[{index}]")
    elif isinstance(value, str):
        for match in TOKEN_PATTERN.finditer(value):
            yield match.group(1), path


def find_tokens(value: Any) -> set[str]:
    """Every token name used anywhere in ``value``."""
    return {name for name, _ in iter_tokens(value)}


def text_of(value: Any) -> str:
    """How a value reads when substituted into a longer string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return json.dumps(value, allow_nan=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """Return a rendered deep copy of ``template``; the template itself is not modified.

    Raises ``ValidationError`` naming every token without a value (``inputs.<name>``) or
    with a value that is not a scalar.
    """
    used = find_tokens(template)
    problems = Problems()
    for name in sorted(used - set(values)):
        problems.add(f"inputs.{name}", "is required by the workflow (no value or default)")
    for name in sorted(used & set(values)):
        if not isinstance(values[name], str | int | float | bool):
            # A list or object dropped into a graph could pose as a link or a node.
            problems.add(f"inputs.{name}", "must be a string, number or boolean")
    problems.raise_if_any("Cannot render workflow")
    return _render(template, values)


def _render(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, Mapping):
        return {key: _render(item, values) for key, item in node.items()}
    if isinstance(node, list):
        return [_render(item, values) for item in node]
    if isinstance(node, str):
        return _render_string(node, values)
    return node


def _render_string(text: str, values: Mapping[str, Any]) -> Any:
    name = whole_token(text)
    if name is not None:
        return values[name]
    if "{{" not in text:
        return text
    return TOKEN_PATTERN.sub(lambda match: text_of(values[match.group(1)]), text)
