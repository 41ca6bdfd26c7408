"""JSON values as they arrive here: possibly through protobuf ``Struct``, where every
number is a double. These helpers put integers back to ``int`` so that ComfyUI gets
``0`` (not ``0.0``) as a link index and equal inputs hash equally for the cache.
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | dict[str, Any] | list[Any]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer a JSON double (and so a protobuf ``Struct``) carries exactly."""


def is_number(value: object) -> bool:
    """An ``int`` or ``float`` that is not a ``bool`` (``True`` is an ``int`` in Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_integral(value: object) -> int | None:
    """``value`` as an ``int`` if it is an integer, or an integral float within the exact
    double range; otherwise ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) <= MAX_SAFE_INTEGER
    ):
        return int(value)
    return None


def normalize_numbers(value: Any) -> Any:
    """A deep copy of ``value`` with every integral finite float turned into an ``int``.

    Keys are left alone (JSON keys are strings anyway). Non-integral floats stay floats.
    """
    if isinstance(value, dict):
        return {key: normalize_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_numbers(item) for item in value]
    if isinstance(value, float):
        integral = as_integral(value)
        return value if integral is None else integral
    return value
