"""Who may hold how many jobs: ``QUOTA_MAX_*`` defaults and ``QUOTA_OVERRIDES``.

Two limits per caller (an API key's id or a JWT subject): **active** jobs (queued +
running) and **daily** jobs (admitted in the last 24 h, a rolling window). 0 means
unlimited. The defaults apply to the ``user`` role; admins are unlimited unless an
override names them. Overrides, most specific first::

    QUOTA_OVERRIDES="role:admin=active:20;key:1a2b3c4d=active:50,daily:0;sub:alice=daily:100"

- entries are separated by ``;``; each is ``SELECTOR=LIMITS``
- ``SELECTOR``: ``role:<admin|user>``, ``key:<8 hex>`` (an API key's id, as logs and
  job owners show it: ``key:1a2b3c4d``) or ``sub:<subject>`` (any caller subject, a JWT
  ``sub`` say)
- ``LIMITS``: ``active:N`` and/or ``daily:N`` separated by ``,``; a limit left out comes
  from the caller's role (then the defaults)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ROLES = ("admin", "user")
LIMIT_NAMES = ("active", "daily")
KEY_PREFIX = "key:"


class QuotaSyntaxError(ValueError):
    """Raised when ``QUOTA_OVERRIDES`` cannot be read; the message says which entry."""


@dataclass(frozen=True)
class QuotaLimits:
    """A caller's two limits; 0 = unlimited."""

    active: int = 0
    daily: int = 0

    @property
    def unlimited(self) -> bool:
        return self.active == 0 and self.daily == 0


@dataclass(frozen=True)
class PartialLimits:
    """An override: only the limits it names."""

    active: int | None = None
    daily: int | None = None

    def over(self, base: QuotaLimits) -> QuotaLimits:
        changes = {
            name: value for name in LIMIT_NAMES if (value := getattr(self, name)) is not None
        }
        return replace(base, **changes)


@dataclass(frozen=True)
class QuotaPolicy:
    """The configured limits, resolved per caller with ``limits_for``::

    policy = QuotaPolicy(QuotaLimits(active=5, daily=200), parse_overrides("role:admin=active:50"))
    policy.limits_for("key:1a2b3c4d", "user")   # QuotaLimits(active=5, daily=200)
    """

    user_defaults: QuotaLimits = QuotaLimits()
    overrides: dict[str, PartialLimits] = field(default_factory=dict)
    """Selector (``role:admin``, ``sub:<subject>``) -> the limits it sets."""

    @property
    def enabled(self) -> bool:
        """False when no caller can ever meet a limit (nothing to count)."""
        if not self.user_defaults.unlimited:
            return True
        return any(value for o in self.overrides.values() for value in (o.active, o.daily))

    def limits_for(self, subject: str, role: str) -> QuotaLimits:
        base = self.user_defaults if role == "user" else QuotaLimits()
        for selector in (f"role:{role}", f"sub:{subject}"):
            override = self.overrides.get(selector)
            if override is not None:
                base = override.over(base)
        return base


def parse_overrides(text: str) -> dict[str, PartialLimits]:
    """``QUOTA_OVERRIDES`` as selector -> limits; ``key:X`` is stored as ``sub:key:X``."""
    overrides: dict[str, PartialLimits] = {}
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        selector, sep, limits = entry.partition("=")
        if not sep:
            raise QuotaSyntaxError(f"{entry!r}: expected SELECTOR=LIMITS")
        overrides[_selector(selector.strip(), entry)] = _limits(limits, entry)
    return overrides


def _selector(text: str, entry: str) -> str:
    kind, sep, name = text.partition(":")
    if not sep or not name:
        raise QuotaSyntaxError(f"{entry!r}: selector must be role:NAME, key:ID or sub:SUBJECT")
    if kind == "role":
        if name not in ROLES:
            raise QuotaSyntaxError(f"{entry!r}: role must be one of {', '.join(ROLES)}")
        return text
    if kind == "key":
        return f"sub:{KEY_PREFIX}{name}"
    if kind == "sub":
        return text
    raise QuotaSyntaxError(f"{entry!r}: selector must be role:NAME, key:ID or sub:SUBJECT")


def _limits(text: str, entry: str) -> PartialLimits:
    values: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, number = item.partition(":")
        if not sep or name.strip() not in LIMIT_NAMES:
            raise QuotaSyntaxError(f"{entry!r}: limits are active:N and/or daily:N")
        try:
            value = int(number.strip())
        except ValueError:
            raise QuotaSyntaxError(f"{entry!r}: {item!r} is not a whole number") from None
        if value < 0:
            raise QuotaSyntaxError(f"{entry!r}: {item!r} must not be negative (0 = unlimited)")
        values[name.strip()] = value
    return PartialLimits(**values)
