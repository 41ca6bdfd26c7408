"""How much work a job asks for, from its resolved inputs: the estimator's size axis.

Sampler time grows with pixels, steps and batch size; a job without those inputs is
one unit. Pixels are counted in 512x512 tiles so the numbers stay near 1-100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TILE_PIXELS = 512 * 512


def _number(inputs: Mapping[str, Any], name: str) -> float | None:
    value = inputs.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def work_units(inputs: Mapping[str, Any] | None) -> float:
    """``(width x height / 512^2) x steps x batch_size``, each factor 1 when absent."""
    inputs = inputs or {}
    width, height = _number(inputs, "width"), _number(inputs, "height")
    pixels = width * height / TILE_PIXELS if width and height else 1.0
    steps = _number(inputs, "steps") or 1.0
    batch = _number(inputs, "batch_size") or 1.0
    return pixels * steps * batch
