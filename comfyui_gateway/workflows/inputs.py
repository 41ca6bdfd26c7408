"""Resolving a job's inputs against its workflow: defaults, types, bounds, limits, seed.

Precedence, highest first: **explicit input > ``defaultParams`` > schema ``default``**.
``defaultParams`` is the workflow owner's per-deployment setting and so outranks the
schema's generic default; the caller's explicit value outranks both.

Every problem is reported at once, each naming ``inputs.<field>``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.schema import (
    NAME_PATTERN,
    RANDOM_SEED,
    SEED_FIELD,
    FieldSpec,
    InputSchema,
    check_text,
    check_value,
    effective_fields,
)
from comfyui_gateway.workflows.values import MAX_SAFE_INTEGER

SIZE_FIELDS = ("width", "height")
BATCH_FIELD = "batch_size"
MAX_INPUTS_JSON_BYTES = 512 * 1024
"""All of a job's inputs together, as compact JSON: the job's answers echo them, and
they must fit Envoy's transcoding buffers whatever the schema (README "Input limits")."""
MAX_ECHOED_NAME = 64
SEED_LIMIT = 2**53
"""Random seeds are drawn from [0, 2**53): they survive JSON doubles unchanged."""


@dataclass(frozen=True)
class InputLimits:
    """Deployment caps (``MAX_IMAGE_SIZE``, ``MAX_BATCH_SIZE``, ``MAX_INPUT_STRING_CHARS``)
    applied to every workflow."""

    max_image_size: int
    max_batch_size: int
    max_string_chars: int = 20_000


@dataclass(frozen=True)
class ResolvedInputs:
    """The values a job renders with, plus what the job row records about its seed."""

    values: dict[str, Any]
    seed: int | None
    """The seed used (drawn or given), or ``None`` if the workflow has no ``seed``."""
    random_seed: bool
    """True when the seed was drawn at random: such a request is never cacheable."""


def resolve_inputs(
    input_schema: InputSchema,
    default_params: Mapping[str, Any],
    inputs: Mapping[str, Any] | None,
    limits: InputLimits,
    *,
    rng: random.Random | None = None,
) -> ResolvedInputs:
    """Merge, check and normalise ``inputs``; raise ``ValidationError`` naming the fields.

    Integral floats (protobuf ``Struct`` numbers) become ``int`` for integer and number
    fields. ``seed: -1`` is replaced by a random seed within the field's bounds.
    """
    problems = Problems()
    fields = effective_fields(input_schema, dict(default_params), problems)
    given = dict(inputs or {})
    unknown = sorted(set(given) - set(fields))
    for name in unknown:
        if len(name) <= MAX_ECHOED_NAME and NAME_PATTERN.fullmatch(name):
            problems.add(f"inputs.{name}", "unknown input for this workflow")
    if any(len(name) > MAX_ECHOED_NAME or not NAME_PATTERN.fullmatch(name) for name in unknown):
        # Never echo a key that cannot be a field name: it is only a fragment of the body.
        problems.add("inputs", "has keys that are not field names of this workflow")

    values: dict[str, Any] = {}
    for name, spec in fields.items():
        path = f"inputs.{name}"
        if name in given and given[name] is not None:
            values[name] = check_value(spec, given[name], path, problems)
            check_text(spec, given[name], path, problems, limits.max_string_chars)
        elif spec.has_default:
            values[name] = spec.default
        elif spec.required:
            problems.add(path, "is required")
    _apply_limits(values, limits, problems)
    if not problems:
        _check_total_size(values, problems)
    problems.raise_if_any("Invalid inputs")

    seed: int | None = None
    random_seed = False
    if SEED_FIELD in values and SEED_FIELD in fields:
        if values[SEED_FIELD] == RANDOM_SEED:
            values[SEED_FIELD] = draw_seed(fields[SEED_FIELD], rng)
            random_seed = True
        if isinstance(values[SEED_FIELD], int):
            seed = values[SEED_FIELD]
    return ResolvedInputs(values=values, seed=seed, random_seed=random_seed)


def draw_seed(spec: FieldSpec, rng: random.Random | None = None) -> int:
    """A random seed in [0, 2**53) narrowed to the field's own min/max."""
    low = max(0, int(spec.min) if spec.min is not None else 0)
    high = min(SEED_LIMIT - 1, int(spec.max) if spec.max is not None else MAX_SAFE_INTEGER)
    if high < low:
        high = low
    return (rng or random.SystemRandom()).randint(low, high)


def _apply_limits(values: dict[str, Any], limits: InputLimits, problems: Problems) -> None:
    for name in SIZE_FIELDS:
        value = values.get(name)
        if _is_int(value) and value > limits.max_image_size:
            problems.add(f"inputs.{name}", f"must be <= {limits.max_image_size} (MAX_IMAGE_SIZE)")
    value = values.get(BATCH_FIELD)
    if _is_int(value) and value > limits.max_batch_size:
        problems.add(
            f"inputs.{BATCH_FIELD}", f"must be <= {limits.max_batch_size} (MAX_BATCH_SIZE)"
        )


def _check_total_size(values: Mapping[str, Any], problems: Problems) -> None:
    size = len(json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_INPUTS_JSON_BYTES:
        problems.add("inputs", f"must be at most {MAX_INPUTS_JSON_BYTES} bytes as JSON in total")


def _is_int(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
