"""The event loop a long-running gateway process runs on: uvloop where it installs.

uvloop's libuv loop cuts the per-callback and per-socket overhead of asyncio's pure-
Python selector loop, which is most of what a gRPC call, a database round trip through
aiosqlite's thread hand-off, or one SSE event fanned out to a thousand watchers costs
here. grpc.aio runs on it unchanged. ``ASYNCIO_LOOP=asyncio`` keeps the standard loop
(for comparison, or a platform without uvloop wheels).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_choice(environ: dict[str, str] | None = None) -> str:
    """``uvloop`` (default, when importable) or ``asyncio``."""
    wanted = (environ if environ is not None else os.environ).get("ASYNCIO_LOOP", "uvloop")
    if wanted.strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:  # a platform without wheels: the standard loop still works
        return "asyncio"
    return "uvloop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind ``loop_choice`` picks (for a loop run in a thread)."""
    if loop_choice() == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop ``loop_choice`` picks."""
    if loop_choice() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
