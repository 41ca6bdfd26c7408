"""Webhook bodies are byte-for-byte what JavaScript's JSON.stringify writes.

The expected strings are what Node 20 prints for the same values (the integration test
``test_webhooks_js`` checks the same property against a live ``node`` on random data).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyui_gateway.webhooks.jsonjs import js_dumps, js_key_order, js_number, js_string


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-0.0, "0"),
        (100.0, "100"),
        (7.5, "7.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e16, "15000000000000000"),
        (1e21, "1e+21"),
        (1.2345e22, "1.2345e+22"),
        (123456789012345680000.0, "123456789012345680000"),
        (-2.5e-10, "-2.5e-10"),
        (2**53, "9007199254740992"),
        (float("nan"), "null"),
        (float("inf"), "null"),
    ],
)
def test_numbers_print_like_javascript(value: float, expected: str) -> None:
    assert js_number(value) == expected


def test_strings_escape_like_v8() -> None:
    assert js_string('a"b\\c') == '"a\\"b\\\\c"'
    assert js_string("\n\r\t\b\f") == '"\\n\\r\\t\\b\\f"'
    assert js_string("\x00\x1f\x7f") == '"\\u0000\\u001f\x7f"'
    assert js_string("é 漢字 🎨 \u2028") == '"é 漢字 🎨 \u2028"'
    assert js_string("\ud800") == '"\\ud800"'  # a lone surrogate, as ES2019 writes it


def test_objects_use_javascript_property_order() -> None:
    value = {"b": 1, "10": 2, "a": 3, "2": 4, "01": 5, "-1": 6, "4294967295": 7}
    assert js_key_order(value) == ["2", "10", "b", "a", "01", "-1", "4294967295"]
    assert js_dumps(value) == '{"2":4,"10":2,"b":1,"a":3,"01":5,"-1":6,"4294967295":7}'


def test_no_whitespace_and_utf8_kept() -> None:
    payload: dict[str, Any] = {
        "event": "job.succeeded",
        "result": {"outputs": []},
        "error": None,
        "x": [1, True],
    }
    text = js_dumps(payload)
    assert text == '{"event":"job.succeeded","result":{"outputs":[]},"error":null,"x":[1,true]}'
    assert json.loads(text) == payload
    assert js_dumps({"p": "café"}).encode("utf-8") == b'{"p":"caf\xc3\xa9"}'


def test_unserialisable_values_are_refused() -> None:
    with pytest.raises(TypeError):
        js_dumps({"when": object()})
