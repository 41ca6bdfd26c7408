"""Collect every problem first, then raise one ``ValidationError`` naming them all.

An admin registering a workflow should see all twelve mistakes at once, not fix them
one round-trip at a time. ``details`` is a list of ``{"field": path, "message": text}``.
"""

from __future__ import annotations

from typing import Any

from comfyui_gateway.errors import ValidationError

MAX_LISTED_IN_MESSAGE = 5


class Problems:
    """An ordered list of ``(field, message)`` findings.

    Usage::

        problems = Problems()
        problems.add("inputs.width", "must be <= 2048")
        problems.raise_if_any("Invalid inputs")
    """

    def __init__(self) -> None:
        self._items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self._items.append({"field": field, "message": message})

    def extend(self, other: Problems) -> None:
        self._items.extend(other._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[dict[str, str]]:
        return list(self._items)

    def fields(self) -> list[str]:
        return [item["field"] for item in self._items]

    def to_error(self, summary: str) -> ValidationError:
        """One error whose message lists the first few problems and whose details list all."""
        shown = "; ".join(
            f"{p['field']}: {p['message']}" for p in self._items[:MAX_LISTED_IN_MESSAGE]
        )
        more = len(self._items) - MAX_LISTED_IN_MESSAGE
        if more > 0:
            shown += f"; and {more} more"
        details: Any = self.items
        return ValidationError(f"{summary}: {shown}", details=details)

    def raise_if_any(self, summary: str) -> None:
        if self._items:
            raise self.to_error(summary)
