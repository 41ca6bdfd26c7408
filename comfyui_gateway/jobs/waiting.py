"""Synchronous answers: hold a create until the job ends, or a deadline passes.

A caller that sends ``Prefer: wait=N`` (RFC 7240) on ``POST /jobs`` gets the finished
job in the one answer when it ends within ``N`` seconds, otherwise the usual 202. The
job is the same durable job either way (stored, queued, cached and delivered to its
webhook exactly as without the header): waiting only decides *when* the server
answers. It follows the job's own event stream (``watch_job``: one subscription,
no polling) and stops at the first terminal event.

``return=representation`` together with ``outputEncoding: "base64"`` asks for the
output bytes inline. Parsing is lenient, as RFC 7240 asks: a preference the server
does not understand (or a malformed ``wait``) is ignored, not refused; ``,`` and ``;``
both separate preferences, so ``return=representation; wait=10`` reads as two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.eventbus import EventBus
from comfyui_gateway.events import JobEvent
from comfyui_gateway.jobs.watch import watch_job

MAX_WAIT_S = 300
"""The longest a create may be held (Envoy's POST /jobs route allows a little more)."""
INLINE_MAX_BYTES = 768 * 1024
"""Inline output bytes per answer: base64 of this stays under Envoy's ~1 MiB buffer for
a transcoded unary answer. Bigger outputs are answered with their URLs only."""


@dataclass(frozen=True)
class Preference:
    """What a ``Prefer`` header asked for: ``wait_s`` 0 means "answer at once"."""

    wait_s: int = 0
    representation: bool = False


def parse_prefer(values: Iterable[str]) -> Preference:
    """The preferences in every ``Prefer`` header value; unknown ones are ignored."""
    wait_s = 0
    representation = False
    for value in values:
        for item in value.replace(";", ",").split(","):
            name, _, argument = item.partition("=")
            name = name.strip().lower()
            argument = argument.strip().strip('"')
            if name == "wait" and argument.isdigit():
                wait_s = min(int(argument), MAX_WAIT_S)
            elif name == "return":
                representation = argument.lower() == "representation"
    return Preference(wait_s=wait_s, representation=representation)


async def wait_until_finished(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    job_id: str,
    owner: str | None,
    wait_s: float,
    *,
    shutdown: asyncio.Event | None = None,
) -> bool:
    """True when the job reached a terminal state within ``wait_s`` seconds.

    A server shutting down ends the wait early (the stream ends with the job's current
    state): the caller then gets the 202 and polls another replica.
    """
    if wait_s <= 0:
        return False
    # watch_job is an async generator: close it (its bus subscription) on every exit.
    stream = cast(
        AsyncGenerator[JobEvent, None],
        watch_job(sessions, bus, job_id, owner, shutdown=shutdown),
    )
    async with contextlib.aclosing(stream):
        try:
            async with asyncio.timeout(wait_s):
                async for event in stream:
                    if event.is_terminal:
                        return True
        except TimeoutError:
            return False
    return False
