"""``MAX_QUEUE_DEPTH``: ``0`` (unlimited), a total (``500``), or per priority and/or total
(``high:50,normal:400,low:1000`` or ``total:800,low:200``); a priority left out is
unlimited. Read by the settings at start-up, so a bad value names the variable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from comfyui_gateway.jobs.priority import JobPriority

TOTAL = "total"


class DepthSyntaxError(ValueError):
    """Raised when ``MAX_QUEUE_DEPTH`` cannot be read."""


@dataclass(frozen=True)
class DepthLimits:
    """0 = unlimited, for the total and for each priority."""

    total: int = 0
    per_priority: dict[JobPriority, int] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.total or any(self.per_priority.values()))

    def excess(self, depth: Mapping[JobPriority, int], priority: JobPriority) -> int:
        """How many jobs over the limit a job of ``priority`` would meet (0: it fits)."""
        over = 0
        if self.total:
            over = max(over, sum(depth.values()) - self.total + 1)
        limit = self.per_priority.get(priority, 0)
        if limit:
            over = max(over, depth.get(priority, 0) - limit + 1)
        return over


def parse_depth_limits(text: str) -> DepthLimits:
    text = text.strip()
    if not text:
        return DepthLimits()
    if text.isdigit():
        return DepthLimits(total=int(text))
    total = 0
    per: dict[JobPriority, int] = {}
    names = ", ".join([TOTAL, *(p.value for p in JobPriority)])
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, sep, number = item.partition(":")
        if not sep or not number.strip().isdigit():
            raise DepthSyntaxError(f"{item!r}: expected NAME:N (NAME one of {names})")
        if name.strip() == TOTAL:
            total = int(number)
            continue
        try:
            per[JobPriority(name.strip())] = int(number)
        except ValueError:
            raise DepthSyntaxError(f"{item!r}: NAME must be one of {names}") from None
    return DepthLimits(total, per)
