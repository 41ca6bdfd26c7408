"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no enums; these decorators make the Python side identical
on both databases (aware UTC datetimes, ``str`` enums) while the stored column stays a
plain portable type, so Alembic compares them as that plain type.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, String
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=enum.Enum)

# Auto-increment surrogate keys: BIGINT on PostgreSQL (logs grow without bound), but
# INTEGER on SQLite, where only "INTEGER PRIMARY KEY" aliases the rowid and autoincrements.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind stored)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime``; naive values are refused instead of guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite hands back naive datetimes; everything written here was UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EnumString(TypeDecorator[E], Generic[E]):
    """A ``str`` enum stored as its value in a VARCHAR (no native enum types to migrate)."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(self.enum_cls(value).value)

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        if value is None:
            return None
        return self.enum_cls(value)

    @property
    def python_type(self) -> type[E]:
        return self.enum_cls
