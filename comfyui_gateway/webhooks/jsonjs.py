"""JSON text exactly as JavaScript's ``JSON.stringify`` writes it.

A webhook is signed over its raw body. The description's n8n snippet does not keep
the raw body: it re-serialises the parsed payload with ``JSON.stringify($json)`` and
signs that. Its check passes only if our body is byte-for-byte what JavaScript would
produce from the same value, so this module writes JSON the JavaScript way:

- no whitespace; non-ASCII kept as UTF-8 (only ``"``, ``\\`` and control characters
  are escaped, with the same short forms and lower-case ``\\u00xx`` as V8);
- numbers as ``Number.prototype.toString`` prints them (``100`` not ``100.0``,
  ``1e-7`` not ``1e-07``, ``1e+21``);
- object keys in the order JavaScript iterates a parsed object: integer-like keys
  ("0", "42") first in ascending order, then the others in insertion order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

ARRAY_INDEX_LIMIT = 2**32 - 1
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_SHORT_ESCAPES["\t"] = "\\t"


def js_dumps(value: Any) -> str:
    """``JSON.stringify(value)`` for JSON-safe Python values (dict, list, str, numbers)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(js_string(value))
    elif isinstance(value, int | float):
        out.append(js_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, key in enumerate(js_key_order(value)):
            if index:
                out.append(",")
            out.append(js_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def js_string(text: str) -> str:
    """A JSON string literal as V8 writes it (lone surrogates escaped, like ES2019)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def js_number(number: float) -> str:
    """``Number.prototype.toString()``: the shortest round-trip digits, JS layout."""
    if isinstance(number, bool):  # pragma: no cover - handled by the caller
        raise TypeError("bool is not a number here")
    if isinstance(number, int) and abs(number) < 10**21:
        return str(number)
    value = float(number)
    if not math.isfinite(value):
        return "null"  # what JSON.stringify writes for NaN and Infinity
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    digits_tuple, exponent = _shortest_digits(abs(value))
    digits = "".join(map(str, digits_tuple))
    k = len(digits)
    n = exponent + k  # the decimal point sits after n digits
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _shortest_digits(value: float) -> tuple[tuple[int, ...], int]:
    """Python's ``repr`` already finds the shortest digits that round-trip, as V8 does."""
    parsed = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(parsed.exponent, int)
    return parsed.digits, parsed.exponent


def js_key_order(mapping: Mapping[str, Any]) -> list[str]:
    """Keys in JavaScript's property order: array indices ascending, then the rest."""
    indices = sorted((key for key in mapping if _is_array_index(key)), key=int)
    others = [key for key in mapping if not _is_array_index(key)]
    return [*indices, *others]


def _is_array_index(key: str) -> bool:
    if not key.isascii() or not key.isdigit() or (len(key) > 1 and key[0] == "0"):
        return False
    return int(key) < ARRAY_INDEX_LIMIT
