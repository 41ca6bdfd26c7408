"""Struct -> JSON data walks the Struct directly; json_format (protobuf's generic walk)
is the oracle: the same data, with integral numbers back as ints."""

from __future__ import annotations

import random
from typing import Any

from google.protobuf import json_format, struct_pb2

from server.convert import dict_from, struct_from


def _oracle(message: struct_pb2.Struct) -> Any:
    def ints_back(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        if isinstance(value, dict):
            return {key: ints_back(item) for key, item in value.items()}
        if isinstance(value, list):
            return [ints_back(item) for item in value]
        return value

    return ints_back(json_format.MessageToDict(message))


def _random_value(rng: random.Random, depth: int) -> Any:
    choices: list[Any] = [
        None,
        True,
        False,
        rng.randint(-(2**60), 2**60),
        rng.randint(-1000, 1000),
        rng.uniform(-1e6, 1e6),
        "".join(rng.choice('ab ☃\n"') for _ in range(rng.randint(0, 8))),
    ]
    if depth < 3:
        choices.append([_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))])
        choices.append({f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 4))})
    return rng.choice(choices)


def _round_trip(value: dict[str, Any]) -> dict[str, Any]:
    message = struct_from(value)
    assert message is not None
    converted = dict_from(message)
    assert converted is not None
    return converted


def test_inputs_keep_their_ints_floats_strings_and_nesting() -> None:
    value = {"seed": 1234, "cfg": 1.5, "prompt": "a fox", "link": ["4", 0], "x": {"y": None}}
    assert _round_trip(value) == value


def test_numbers_past_double_precision_stay_floats() -> None:
    converted = _round_trip({"big": 2**60})
    assert converted == {"big": float(2**60)}
    assert isinstance(converted["big"], float)


def test_an_unsent_field_is_none_and_an_empty_struct_is_empty() -> None:
    assert dict_from(struct_pb2.Struct(), present=False) is None
    assert dict_from(struct_pb2.Struct()) == {}


def test_random_documents_convert_as_json_format_does() -> None:
    rng = random.Random(13)
    for _ in range(500):
        document = {f"f{i}": _random_value(rng, 0) for i in range(rng.randint(0, 6))}
        message = struct_from(document)
        assert message is not None
        assert dict_from(message) == _oracle(message)
