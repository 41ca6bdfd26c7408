"""The scheduling rule: which waiting job the asking backend runs next.

1. **Priority** first: a high job is considered before any normal one.
2. **Fairness** within a priority: owners take turns, the least recently served owner
   first (round-robin by owner), each owner's jobs oldest first. One owner's backlog
   delays another owner's first job by about one job slot per backend.
3. **Model affinity** within an owner's jobs (``SCHEDULER_AFFINITY``), in this order:

   a. a job whose models no live backend holds and that has waited
      ``AFFINITY_MAX_WAIT_S`` (none starves behind a stream of jobs that fit);
   b. a job whose models this backend holds (no switch);
   c. a job whose models no other backend holds (someone has to load them);
   d. a job held by another backend that has waited ``AFFINITY_MAX_WAIT_S``, or whose
      models more jobs wait for than the holders have slots (``MAX_CONCURRENCY``
      each): either way its backend is busy longer than a switch here costs;
   e. else nothing: the job is left to the backend holding its models.

   Set the wait near a checkpoint's load time: waiting longer costs more than
   switching.

If every candidate is left to other backends, ``Choice.retry_at`` says when the first
of them becomes anyone's, so an idle worker knows how long it may sleep.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from comfyui_gateway.config import Settings
from comfyui_gateway.jobs.priority import PRIORITY_ORDER
from comfyui_gateway.scheduling.entry import QueueEntry


@dataclass(frozen=True)
class SchedulerConfig:
    affinity: bool = True
    max_wait_s: float = 10.0
    resident_jobs: int = 1
    """How many recent jobs' models count as resident (see ``residency``)."""
    backend_slots: int = 1
    """Jobs a backend runs at once (``MAX_CONCURRENCY``): a holder takes that many."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SchedulerConfig:
        return cls(
            settings.SCHEDULER_AFFINITY,
            settings.AFFINITY_MAX_WAIT_S,
            settings.AFFINITY_RESIDENT_JOBS,
            settings.MAX_CONCURRENCY,
        )


@dataclass(frozen=True)
class Choice:
    entry: QueueEntry | None
    retry_at: float | None = None
    """Epoch seconds at which a job left to another backend becomes this one's too."""


def choose(
    waiting: Iterable[QueueEntry],
    *,
    here: frozenset[str],
    elsewhere: Sequence[frozenset[str]] = (),
    served: Mapping[str, float] | None = None,
    now: float,
    config: SchedulerConfig,
) -> Choice:
    """The entry the backend holding ``here`` should run, given the other live backends'
    models (``elsewhere``) and when each owner was last served (``served``)."""
    entries = list(waiting)
    by_priority: dict[str, list[QueueEntry]] = {}
    demand: dict[tuple[str, ...], int] = {}
    for entry in entries:
        by_priority.setdefault(entry.priority.value, []).append(entry)
        demand[entry.models] = demand.get(entry.models, 0) + 1
    view = _View(here, elsewhere, demand, now, config)
    retry_at = math.inf
    for priority in PRIORITY_ORDER:
        for queue in fair_order(by_priority.get(priority.value, []), served or {}):
            picked, deadline = view.pick(queue)
            if picked is not None:
                return Choice(picked)
            retry_at = min(retry_at, deadline)
    return Choice(None, retry_at if retry_at < math.inf else None)


def fair_order(
    entries: Iterable[QueueEntry], served: Mapping[str, float]
) -> list[list[QueueEntry]]:
    """Each owner's entries oldest first, owners least recently served first (never
    served before served; ties broken by the owner's oldest job)."""
    owners: dict[str, list[QueueEntry]] = {}
    for entry in entries:
        owners.setdefault(entry.owner, []).append(entry)
    queues = [sorted(queue, key=lambda e: e.queued_at) for queue in owners.values()]
    return sorted(queues, key=lambda q: (served.get(q[0].owner, -math.inf), q[0].queued_at))


@dataclass(frozen=True)
class _View:
    """What the asking backend knows while it chooses."""

    here: frozenset[str]
    elsewhere: Sequence[frozenset[str]]
    demand: Mapping[tuple[str, ...], int]
    """Waiting jobs per model set."""
    now: float
    config: SchedulerConfig

    def holders(self, entry: QueueEntry) -> int:
        return sum(held.issuperset(entry.models) for held in self.elsewhere)

    def fits(self, entry: QueueEntry) -> bool:
        return self.here.issuperset(entry.models)

    def overdue(self, entry: QueueEntry) -> bool:
        return self.now - entry.queued_at >= self.config.max_wait_s

    def outnumbers_holders(self, entry: QueueEntry) -> bool:
        """More jobs wait for these models than the backends holding them have slots:
        some would wait a whole job or more, longer than loading them here."""
        slots = self.holders(entry) * self.config.backend_slots
        return self.demand.get(entry.models, 0) > slots

    def pick(self, queue: Sequence[QueueEntry]) -> tuple[QueueEntry | None, float]:
        """One owner's entry for this backend, or None and when one becomes overdue."""
        if not self.config.affinity:
            return queue[0], math.inf
        cold = [e for e in queue if not self.fits(e) and self.holders(e) == 0]
        for entry in cold:  # nobody holds its models and it waited long enough: no starving
            if self.overdue(entry):
                return entry, math.inf
        for entry in queue:
            if self.fits(entry):
                return entry, math.inf
        if cold:
            return cold[0], math.inf
        for entry in queue:  # its backend is busy for longer than a switch here costs
            if self.overdue(entry) or self.outnumbers_holders(entry):
                return entry, math.inf
        return None, min(entry.queued_at for entry in queue) + self.config.max_wait_s
