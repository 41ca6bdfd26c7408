"""Conversions between protobuf well-known types and plain Python values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2


def struct_from(value: dict[str, Any] | None) -> struct_pb2.Struct | None:
    """A Struct for a JSON object, or None so the field stays unset (omitted in JSON)."""
    if value is None:
        return None
    message = struct_pb2.Struct()
    message.update(value)
    return message


def dict_from(message: struct_pb2.Struct, present: bool = True) -> dict[str, Any] | None:
    """A JSON object from a Struct field; None when the field was not sent.

    Struct numbers are doubles: integral values come back as ints so ``1024`` stays
    ``1024`` (and a graph link ``["4", 0]`` keeps an int index).
    """
    if not present:
        return None
    converted = _ints_back(json_format.MessageToDict(message))
    return converted if isinstance(converted, dict) else None


def _ints_back(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _ints_back(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints_back(item) for item in value]
    return value


def timestamp_from(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def datetime_from(stamp: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None
