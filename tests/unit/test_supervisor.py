"""The dev supervisor with real child processes: start-up failures stop it with one
line and exit 1, SIGTERM during start-up says "stopping", a crash loop is given up."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import pytest

from comfyui_gateway.cli import supervisor
from comfyui_gateway.cli.supervisor import ChildSpec, Supervisor


async def never_ready() -> bool:
    return False


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_a_child_that_exits_before_ready_stops_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "comfyui_gateway.dev")
    children = [ChildSpec("doomed", python("import sys; sys.exit(3)"), ready=never_ready)]
    code = await asyncio.wait_for(Supervisor(children).run(), timeout=30)
    assert code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "doomed exited with code 3 before it was ready (its output is above); stopping"
    ]
    assert not any("restarting" in r.getMessage() for r in caplog.records)


async def test_a_later_child_is_never_started_after_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "comfyui_gateway.dev")
    children = [
        ChildSpec("first", python("import sys; sys.exit(2)"), ready=never_ready),
        ChildSpec("second", python("import time; time.sleep(60)")),
    ]
    assert await asyncio.wait_for(Supervisor(children).run(), timeout=30) == 1
    assert "started second" not in caplog.text


async def test_sigterm_during_start_up_says_stopping(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "comfyui_gateway.dev")
    children = [ChildSpec("slow", python("import time; time.sleep(60)"), ready=never_ready)]
    run = asyncio.create_task(Supervisor(children).run())
    while "started slow" not in caplog.text:  # noqa: ASYNC110 (the log is the signal)
        await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(run, timeout=30) == 0
    assert "stopping while slow was starting" in caplog.text
    assert "not ready" not in caplog.text
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


async def test_a_child_that_never_gets_ready_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "comfyui_gateway.dev")
    spec = ChildSpec("stuck", python("import time; time.sleep(60)"), ready=never_ready)
    spec.ready_timeout_s = 0.5
    assert await asyncio.wait_for(Supervisor([spec]).run(), timeout=30) == 1
    assert "stuck not ready after 0.5s; stopping" in caplog.text


async def test_a_crash_loop_is_given_up(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, "comfyui_gateway.dev")
    monkeypatch.setattr(supervisor, "MAX_QUICK_EXITS", 3)
    # Ready at once, then dies: a restart could never help.
    children = [ChildSpec("flaky", python("import sys; sys.exit(4)"))]
    assert await asyncio.wait_for(Supervisor(children).run(), timeout=45) == 1
    assert "flaky keeps exiting (code 4, 3 times within 10s of starting); stopping" in caplog.text
    assert caplog.text.count("restarting in") == 2
