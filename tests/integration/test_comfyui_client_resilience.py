"""The client never hangs: dropped or silent sockets, crashes, slow starts, dead backends."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from comfyui_emulator import Emulator
from comfyui_gateway.errors import ComfyUITimeout, ComfyUIUnreachable
from tests.emulator_helpers import (
    FAST_CLIENT,
    EmulatorProcess,
    emulator_config,
    fail,
    txt2img,
)
from tests.ports import free_port
from worker.comfyui import ComfyUIClient, Event, Finished, NodeStarted, Outcome, StepProgress

pytest_plugins = ("tests.emulator_fixtures",)


async def test_ws_drop_mid_run_gives_the_same_result(comfy: ComfyUIClient) -> None:
    graph = txt2img(steps=80, seed=5)
    reference = await comfy.run(txt2img(steps=20, prefix="reference"))
    submitted = await comfy.submit(graph, extra_data=fail("ws_drop", at_step=3))
    events = [event async for event in comfy.follow(submitted.prompt_id, graph=graph)]
    assert isinstance(events[-1], Finished)
    assert len(events[-1].outputs) == len(reference.outputs) == 1
    assert events[-1].outputs[0].filename == "gw_test_00001_.png"
    steps = [e.value for e in events if isinstance(e, StepProgress)]
    # steps 1-2 before the drop, the last ones after reconnecting
    assert steps[:2] == [1, 2] and 3 not in steps and steps[-1] == 80


async def test_ws_silence_falls_back_to_polling(comfy: ComfyUIClient) -> None:
    graph = txt2img(steps=10)
    submitted = await comfy.submit(graph, extra_data=fail("ws_silence", at_step=2))
    events = [event async for event in comfy.follow(submitted.prompt_id, graph=graph)]
    assert isinstance(events[-1], Finished) and len(events[-1].outputs) == 1
    assert max(e.value for e in events if isinstance(e, StepProgress)) < 10


async def test_socket_that_never_connects_still_finishes(emulator: Emulator) -> None:
    async with ComfyUIClient(emulator.base_url, FAST_CLIENT) as client:
        client.stream._url = emulator.base_url.replace("http", "ws") + "/nowhere"  # 404 on upgrade
        result = await client.run(txt2img())
        assert result.outcome is Outcome.SUCCEEDED and len(result.outputs) == 1


async def test_crash_mid_run_is_unreachable(emulator_process: EmulatorProcess) -> None:
    async with ComfyUIClient(emulator_process.base_url, FAST_CLIENT) as client:
        graph = txt2img(steps=50)
        submitted = await client.submit(graph, extra_data=fail("crash", at_step=3))
        events: list[Event] = []
        with pytest.raises(ComfyUIUnreachable) as caught:
            await client.wait(submitted.prompt_id, graph=graph, on_event=_append(events))
        assert caught.value.retryable
        assert any(isinstance(e, NodeStarted) for e in events)
    assert emulator_process.process.wait(5) == 1


def _append(events: list[Event]) -> Callable[[Event], Awaitable[None]]:
    async def record(event: Event) -> None:
        events.append(event)

    return record


async def test_startup_delay_is_waited_for(tmp_path: Path) -> None:
    server = Emulator(emulator_config(base_dir=tmp_path, startup_delay_ms=600), port=free_port())
    await server.start()
    try:
        async with ComfyUIClient(server.base_url, FAST_CLIENT) as client:
            started = time.monotonic()
            result = await client.run(txt2img())
            assert result.outcome is Outcome.SUCCEEDED
            assert time.monotonic() - started >= 0.5
    finally:
        await server.stop()


async def test_down_backend_is_unreachable_quickly() -> None:
    config = replace(FAST_CLIENT, startup_wait_s=0.3)
    async with ComfyUIClient(f"http://127.0.0.1:{free_port()}", config) as client:
        started = time.monotonic()
        with pytest.raises(ComfyUIUnreachable) as caught:
            await client.system_stats()
        assert caught.value.details["delivered"] is False
        with pytest.raises(ComfyUIUnreachable):
            await client.submit(txt2img())
        assert time.monotonic() - started < 3.0


async def test_run_past_the_timeout(comfy: ComfyUIClient) -> None:
    graph = txt2img(steps=1000)
    submitted = await comfy.submit(graph)
    with pytest.raises(ComfyUITimeout) as caught:
        await comfy.wait(submitted.prompt_id, graph=graph, timeout_s=0.3)
    assert caught.value.details["promptId"] == submitted.prompt_id
    history = await comfy.history(submitted.prompt_id)  # the timed-out prompt was interrupted
    for _ in range(50):
        if history is not None:
            break
        history = await comfy.history(submitted.prompt_id)
    assert history is not None and history.last("execution_interrupted") is not None
