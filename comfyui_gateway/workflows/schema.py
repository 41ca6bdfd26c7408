"""The input-schema format (the reference's) and its validation.

    {"type": "object",
     "fields": {"steps": {"type": "integer", "required": false, "default": 30,
                          "min": 1, "max": 150, "enum": [...], "description": "..."}}}

Field types: ``string``, ``number``, ``integer``, ``boolean``, and the media types
``image``, ``mask``, ``file`` (``comfyui_gateway.media.kinds``; option ``resize``).
Field names are token names (``[A-Za-z_][A-Za-z0-9_]*``), since each field feeds a
``{{name}}`` token.
The field ``seed`` accepts ``-1`` at any time: it asks for a random seed.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from comfyui_gateway.media.kinds import (
    MEDIA_FIELD_TYPES,
    RESIZE_KEY,
    is_media_type,
    media_type_message,
    resize_option,
)
from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.values import MAX_SAFE_INTEGER, as_integral, is_number

FIELD_TYPES = ("string", "number", "integer", "boolean", *MEDIA_FIELD_TYPES)
FIELD_KEYS = frozenset(
    {"type", "required", "default", "min", "max", "enum", "description", "maxLength", RESIZE_KEY}
)
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SEED_FIELD = "seed"
RANDOM_SEED = -1

_MISSING = object()
PARSED_SCHEMAS = 256
"""Distinct parsed schemas remembered (a deployment has tens of workflows)."""


@dataclass(frozen=True)
class FieldSpec:
    """One declared input. ``default`` is ``None`` when there is none (JSON null is not a
    valid input value, so the two cannot be confused)."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    min: int | float | None = None
    max: int | float | None = None
    enum: tuple[Any, ...] | None = None
    description: str = ""
    max_length: int | None = None
    """A string field's own cap in characters (``maxLength``); see ``check_text``."""
    resize: str = ""
    """Media fields only: ``refuse`` or ``fit`` for images over MAX_IMAGE_SIZE."""

    @property
    def has_default(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class InputSchema:
    """A parsed, well-formed input schema."""

    fields: dict[str, FieldSpec]


def coerce_value(field_type: str, value: Any) -> tuple[bool, Any]:
    """Check ``value`` against a field type; return ``(ok, normalised value)``.

    ``integer`` accepts integral floats (protobuf ``Struct`` sends only doubles) and
    converts them; ``number`` turns integral values into ``int`` so ``7`` and ``7.0``
    are the same input everywhere (rendering, cache keys).
    """
    if field_type == "string" or is_media_type(field_type):
        return isinstance(value, str), value
    if field_type == "boolean":
        return isinstance(value, bool), value
    if field_type == "integer":
        integral = as_integral(value)
        if integral is None or abs(integral) > MAX_SAFE_INTEGER:
            return False, value
        return True, integral
    if field_type == "number":
        if not is_number(value) or value != value or value in (float("inf"), float("-inf")):
            return False, value
        integral = as_integral(value)
        return True, value if integral is None else integral
    return False, value


def type_error_message(field_type: str) -> str:
    if is_media_type(field_type):
        return media_type_message()
    if field_type == "integer":
        return f"must be an integer between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"
    article = "an" if field_type[0] in "aeiou" else "a"
    return f"must be {article} {field_type}"


def check_value(spec: FieldSpec, value: Any, path: str, problems: Problems) -> Any:
    """Validate one value against its field (type, bounds, enum); return it normalised.

    Problems are added to ``problems``; the return value is meaningless when one was.
    """
    ok, normalised = coerce_value(spec.type, value)
    if not ok:
        problems.add(path, type_error_message(spec.type))
        return value
    if spec.name == SEED_FIELD and normalised == RANDOM_SEED:
        return normalised
    if spec.min is not None and normalised < spec.min:
        problems.add(path, f"must be >= {spec.min}")
    if spec.max is not None and normalised > spec.max:
        problems.add(path, f"must be <= {spec.max}")
    if spec.enum is not None and normalised not in spec.enum:
        allowed = ", ".join(repr(v) for v in spec.enum)
        problems.add(path, f"must be one of {allowed}")
    return normalised


def parse_input_schema(raw: Any, *, path: str = "inputSchema") -> InputSchema:
    """Parse and check a schema; raise one ``ValidationError`` listing every problem.

    ``None`` or ``{}`` is an empty schema. Every submission parses its workflow's
    schema two or three times (rendering, media, rendering again with stored media
    names), so a schema that parsed is remembered by its
    canonical JSON: writing that takes a fifth of the parse. A schema is immutable
    (frozen dataclasses); callers share the parsed value.
    """
    try:
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # not JSON (an admin's bad value): parse it as it is
        return _parse_checked(raw, path)
    return _parsed(canonical, path)


@functools.lru_cache(maxsize=PARSED_SCHEMAS)
def _parsed(canonical: str, path: str) -> InputSchema:
    return _parse_checked(json.loads(canonical), path)


def _parse_checked(raw: Any, path: str) -> InputSchema:
    problems = Problems()
    schema = read_input_schema(raw, problems, path=path)
    problems.raise_if_any("Invalid input schema")
    return schema


def read_input_schema(raw: Any, problems: Problems, *, path: str = "inputSchema") -> InputSchema:
    """Parse what can be parsed, adding every problem to ``problems`` (fields with
    problems are left out of the result)."""
    if raw is None:
        return InputSchema({})
    if not isinstance(raw, dict):
        problems.add(path, "must be an object")
        return InputSchema({})
    for key in sorted(set(raw) - {"type", "fields"}):
        problems.add(f"{path}.{key}", "unknown key (expected 'type' and 'fields')")
    if raw.get("type", "object") != "object":
        problems.add(f"{path}.type", "must be 'object'")
    fields_raw = raw.get("fields", {})
    if not isinstance(fields_raw, dict):
        problems.add(f"{path}.fields", "must be an object of field name -> field spec")
        return InputSchema({})
    fields: dict[str, FieldSpec] = {}
    for name, spec_raw in fields_raw.items():
        spec = _parse_field(name, spec_raw, f"{path}.fields.{name}", problems)
        if spec is not None:
            fields[name] = spec
    return InputSchema(fields)


def _parse_field(name: str, raw: Any, path: str, problems: Problems) -> FieldSpec | None:
    before = len(problems)
    if not NAME_PATTERN.fullmatch(name):
        problems.add(path, "field names must match [A-Za-z_][A-Za-z0-9_]*")
    if not isinstance(raw, dict):
        problems.add(path, "must be an object")
        return None
    for key in sorted(set(raw) - FIELD_KEYS):
        problems.add(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(FIELD_KEYS))})")
    field_type = raw.get("type")
    if field_type not in FIELD_TYPES:
        problems.add(f"{path}.type", f"must be one of {', '.join(FIELD_TYPES)}")
        return None
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.add(f"{path}.required", "must be a boolean")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add(f"{path}.description", "must be a string")
    bounds = _parse_bounds(field_type, raw, path, problems)
    enum = _parse_enum(field_type, raw.get("enum", _MISSING), path, problems)
    max_length = _parse_max_length(field_type, raw.get("maxLength"), path, problems)
    resize, resize_problem = resize_option(field_type, raw)
    if resize_problem is not None:
        problems.add(f"{path}.{RESIZE_KEY}", resize_problem)
    if len(problems) > before:
        return None
    spec = FieldSpec(
        name=name,
        type=field_type,
        required=required,
        min=bounds[0],
        max=bounds[1],
        enum=enum,
        description=description,
        max_length=max_length,
        resize=resize,
    )
    default = raw.get("default")
    if default is not None:
        default = check_value(spec, default, f"{path}.default", problems)
        check_text(spec, default, f"{path}.default", problems)
        spec = replace(spec, default=default)
    return spec


def _parse_bounds(
    field_type: str, raw: dict[str, Any], path: str, problems: Problems
) -> tuple[int | float | None, int | float | None]:
    bounds: list[int | float | None] = []
    for key in ("min", "max"):
        value = raw.get(key)
        if value is None:
            bounds.append(None)
            continue
        if field_type not in ("number", "integer"):
            problems.add(f"{path}.{key}", f"only number and integer fields take {key}")
            bounds.append(None)
            continue
        ok, normalised = coerce_value(field_type, value)
        if not ok:
            problems.add(f"{path}.{key}", type_error_message(field_type))
            bounds.append(None)
        else:
            bounds.append(normalised)
    low, high = bounds
    if low is not None and high is not None and low > high:
        problems.add(f"{path}.min", f"min ({low}) is greater than max ({high})")
    return low, high


def _parse_enum(field_type: str, raw: Any, path: str, problems: Problems) -> tuple[Any, ...] | None:
    if raw is _MISSING or raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        problems.add(f"{path}.enum", "must be a non-empty list")
        return None
    values: list[Any] = []
    for index, item in enumerate(raw):
        ok, normalised = coerce_value(field_type, item)
        if not ok:
            problems.add(
                f"{path}.enum[{index}]", f"{type_error_message(field_type)} like the field"
            )
        elif normalised in values:
            problems.add(f"{path}.enum[{index}]", f"duplicate value {item!r}")
        else:
            values.append(normalised)
    return tuple(values)


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""C0 controls but tab, newline and carriage return: no prompt needs them, NUL breaks
PostgreSQL text, and each would print as a six-byte JSON escape in every answer."""


def _parse_max_length(field_type: str, raw: Any, path: str, problems: Problems) -> int | None:
    if raw is None:
        return None
    if field_type != "string":
        problems.add(f"{path}.maxLength", "only string fields take maxLength")
        return None
    length = as_integral(raw)
    if length is None or length < 1:
        problems.add(f"{path}.maxLength", "must be a positive integer")
        return None
    return length


def check_text(
    spec: FieldSpec, value: Any, path: str, problems: Problems, max_chars: int | None = None
) -> None:
    """The free-text rules of a ``string`` field: not empty when required, no control
    characters, at most ``maxLength`` and ``max_chars`` (MAX_INPUT_STRING_CHARS) long.

    Kept apart from ``check_value`` on purpose: media fields (image, mask, file) carry
    their own byte limits and never reach these rules.
    """
    if spec.type != "string" or not isinstance(value, str):
        return
    if spec.required and not value.strip():
        problems.add(path, "must not be empty")
    caps = [cap for cap in (spec.max_length, max_chars) if cap is not None]
    if caps and len(value) > min(caps):
        source = "maxLength" if spec.max_length == min(caps) else "MAX_INPUT_STRING_CHARS"
        problems.add(path, f"must be at most {min(caps)} characters ({source})")
    if CONTROL_CHARACTERS.search(value):
        problems.add(path, "must not contain control characters (tab and newline are allowed)")


def infer_field_type(value: Any) -> str | None:
    """The field type a bare ``defaultParams`` value implies (``None`` if not a scalar)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if as_integral(value) is not None:
        return "integer"
    if is_number(value):
        return "number"
    return None


def effective_fields(
    schema: InputSchema, default_params: dict[str, Any], problems: Problems | None = None
) -> dict[str, FieldSpec]:
    """The fields a job may set, with ``defaultParams`` applied over schema defaults.

    A ``defaultParams`` key the schema does not declare becomes an optional field whose
    type is inferred from its value (a workflow may have defaults but no schema).
    Problems with ``defaultParams`` values are added to ``problems`` when given.
    """
    sink = problems if problems is not None else Problems()
    fields = dict(schema.fields)
    for name, value in default_params.items():
        path = f"defaultParams.{name}"
        spec = fields.get(name)
        if spec is None:
            inferred = infer_field_type(value)
            if not NAME_PATTERN.fullmatch(name):
                sink.add(path, "parameter names must match [A-Za-z_][A-Za-z0-9_]*")
                continue
            if inferred is None:
                sink.add(path, "must be a string, number or boolean")
                continue
            spec = FieldSpec(name=name, type=inferred)
        normalised = check_value(spec, value, path, sink)
        fields[name] = replace(spec, default=normalised)
    return fields
