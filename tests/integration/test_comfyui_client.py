"""The worker's ComfyUI client against the emulator: the ordinary paths."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from comfyui_emulator import Emulator
from comfyui_gateway.errors import ComfyUINodeError, ComfyUIOutOfMemory, OutputNotFound
from tests.emulator_helpers import fail, three_nodes, txt2img
from worker.comfyui import (
    CancelOutcome,
    ComfyUIClient,
    Event,
    ExecutionStarted,
    Failed,
    Finished,
    Interrupted,
    NodeExecuted,
    NodesCached,
    NodeStarted,
    Outcome,
    OutputRef,
    StepProgress,
)
from worker.comfyui.follow import Backend, Follower
from worker.comfyui.history import HistoryRecord

pytest_plugins = ("tests.emulator_fixtures",)


async def collect(comfy: ComfyUIClient, prompt_id: str, graph: dict[str, object]) -> list[Event]:
    return [event async for event in comfy.follow(prompt_id, graph=graph)]


async def test_plain_run(comfy: ComfyUIClient) -> None:
    graph = three_nodes()
    submitted = await comfy.submit(graph, prompt_id="job-1")
    assert submitted.prompt_id == "job-1" and submitted.node_errors == {}
    events = await collect(comfy, "job-1", graph)
    assert isinstance(events[-1], Finished)
    assert events[-1].progress == 100.0
    assert events[-1].outputs == (
        OutputRef(
            node="3", kind="images", filename="gw_test_00001_.png", subfolder="", type="output"
        ),
    )
    started = [e for e in events if isinstance(e, NodeStarted)]
    assert [(e.node, e.node_type) for e in started] == [
        ("1", "EmptyImage"),
        ("2", "ImageInvert"),
        ("3", "SaveImage"),
    ]
    assert any(isinstance(e, ExecutionStarted) for e in events)
    assert all(e.prompt_id == "job-1" for e in events)


async def test_outputs_come_from_the_socket_without_reading_history(
    comfy: ComfyUIClient,
) -> None:
    """Socket up throughout: ``execution_success`` ends the run with the ``executed``
    outputs, no ``/history`` round trip, and they are what history records."""
    await comfy.run(three_nodes())  # the socket is up from here on
    reads: list[str] = []

    async def history(prompt_id: str) -> HistoryRecord | None:
        reads.append(prompt_id)
        return await comfy.history(prompt_id)

    for graph in (three_nodes(color=0x00FF00), three_nodes(color=0x00FF00)):  # ran, cached
        submitted = await comfy.submit(graph)
        backend = Backend(history, comfy.queue, comfy.cancel, set())
        follower = Follower(submitted.prompt_id, backend, comfy.stream, comfy.config, graph, None)
        events = [event async for event in follower.events()]
        assert isinstance(events[-1], Finished) and events[-1].outputs
        assert reads == []
        recorded = await comfy.history(submitted.prompt_id)
        assert recorded is not None and recorded.outputs == events[-1].outputs


async def test_sampler_progress(comfy: ComfyUIClient) -> None:
    graph = txt2img(steps=4)
    seen: list[Event] = []

    async def record(event: Event) -> None:
        seen.append(event)

    result = await comfy.run(graph, on_event=record)
    assert result.outcome is Outcome.SUCCEEDED and len(result.outputs) == 1
    steps = [(e.node, e.value, e.max) for e in seen if isinstance(e, StepProgress)]
    assert steps == [("3", 1, 4), ("3", 2, 4), ("3", 3, 4), ("3", 4, 4)]
    percents = [e.progress for e in seen]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert all(p < 100 for p in percents[:-1])
    executed = [e for e in seen if isinstance(e, NodeExecuted)]
    assert executed[0].outputs == result.outputs


async def test_validation_error_is_a_node_error(comfy: ComfyUIClient) -> None:
    graph = three_nodes(width=-5)
    with pytest.raises(ComfyUINodeError) as caught:
        await comfy.submit(graph)
    details = caught.value.details
    assert details["nodeId"] == "1" and details["nodeType"] == "EmptyImage"
    assert details["errorType"] == "prompt_outputs_failed_validation"
    assert details["nodeErrors"]["1"]["errors"][0]["type"] == "value_smaller_than_min"
    assert "smaller than min" in caught.value.message
    assert not caught.value.retryable


async def test_runtime_node_error(comfy: ComfyUIClient) -> None:
    with pytest.raises(ComfyUINodeError) as caught:
        await comfy.run(txt2img(), extra_data=fail("node_error", at_step=2))
    details = caught.value.details
    assert details["nodeId"] == "3" and details["nodeType"] == "KSampler"
    assert details["exceptionType"] == "RuntimeError"
    assert "mat1 and mat2" in details["comfyuiMessage"]


async def test_out_of_memory(comfy: ComfyUIClient) -> None:
    graph = txt2img()
    submitted = await comfy.submit(graph, extra_data=fail("oom"))
    events = await collect(comfy, submitted.prompt_id, graph)
    assert isinstance(events[-1], Failed)
    error = events[-1].error
    assert isinstance(error, ComfyUIOutOfMemory) and not error.retryable
    assert error.details["nodeType"] == "KSampler"
    assert "Reduce width/height" in error.message


async def test_interrupt_while_executing(comfy: ComfyUIClient) -> None:
    graph = txt2img(steps=400)
    submitted = await comfy.submit(graph)
    events: list[Event] = []
    async for event in comfy.follow(submitted.prompt_id, graph=graph):
        events.append(event)
        if isinstance(event, StepProgress) and event.value == 2:
            assert await comfy.cancel(submitted.prompt_id) is CancelOutcome.INTERRUPTED
    last = events[-1]
    assert isinstance(last, Interrupted) and last.node == "3" and not last.removed


async def test_delete_while_pending(comfy: ComfyUIClient) -> None:
    blocker = await comfy.submit(txt2img(steps=400))
    pending = await comfy.submit(three_nodes())
    assert await comfy.cancel(pending.prompt_id) is CancelOutcome.REMOVED
    result = await comfy.wait(pending.prompt_id)
    assert result.outcome is Outcome.REMOVED
    snapshot = await comfy.queue()
    assert snapshot.is_running(blocker.prompt_id) and not snapshot.is_pending(pending.prompt_id)
    # someone else's running prompt is never interrupted by our cancel
    assert await comfy.cancel("not-ours") is CancelOutcome.NOT_FOUND
    assert (await comfy.queue()).is_running(blocker.prompt_id)
    assert await comfy.cancel(blocker.prompt_id) is CancelOutcome.INTERRUPTED
    assert (await comfy.wait(blocker.prompt_id)).outcome is Outcome.INTERRUPTED


async def test_fully_cached_rerun(comfy: ComfyUIClient) -> None:
    graph = txt2img()
    first = await comfy.run(graph)
    submitted = await comfy.submit(graph)
    events = await collect(comfy, submitted.prompt_id, graph)
    cached = next(e for e in events if isinstance(e, NodesCached))
    assert sorted(cached.nodes) == ["3", "4", "5", "6", "7", "8", "9"]
    assert not [e for e in events if isinstance(e, StepProgress)]
    assert isinstance(events[-1], Finished) and events[-1].outputs == first.outputs


async def test_download_is_streamed_byte_exact(comfy: ComfyUIClient, emulator: Emulator) -> None:
    result = await comfy.run(txt2img(width=128, height=128))
    ref = result.outputs[0]
    digest = hashlib.sha256()
    chunks = 0
    async for chunk in comfy.download(ref, chunk_size=1024):
        assert len(chunk) <= 1024
        digest.update(chunk)
        chunks += 1
    on_disk = (emulator.storage.base / "output" / str(ref.filename)).read_bytes()
    assert digest.hexdigest() == hashlib.sha256(on_disk).hexdigest()
    assert chunks > 1
    assert ref.content_type == "image/png"
    with pytest.raises(OutputNotFound):
        async for _ in comfy.download(OutputRef(node="9", kind="images", filename="nope.png")):
            pass


async def test_upload_then_load(comfy: ComfyUIClient, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 128, 255)).save(buffer, format="PNG")
    uploaded = await comfy.upload_image(buffer.getvalue(), "init.png", subfolder="jobs")
    assert (uploaded.name, uploaded.subfolder, uploaded.type) == ("init.png", "jobs", "input")
    path = tmp_path / "init.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(path)
    renamed = await comfy.upload_image(path, "init.png", subfolder="jobs")
    assert renamed.name == "init (1).png"
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded.load_image_value}},
        "2": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "loaded"},
        },
    }
    result = await comfy.run(graph)
    chunks = [chunk async for chunk in comfy.download(result.outputs[0])]
    with Image.open(io.BytesIO(b"".join(chunks))) as image:
        assert image.getpixel((0, 0)) == (0, 128, 255)


async def test_backend_information(comfy: ComfyUIClient) -> None:
    stats = await comfy.system_stats()
    assert stats.comfyui_version == "0.3.64" and stats.vram_total > 0
    catalogue = await comfy.object_info()
    assert {"KSampler", "SaveImage", "LoadImage"} <= catalogue.node_classes
    assert catalogue.checkpoints == (
        "sd_xl_base_1.0.safetensors",
        "v1-5-pruned-emaonly.safetensors",
    )
    assert "RealESRGAN_x4plus.pth" in catalogue.upscale_models
    assert catalogue.loras and catalogue.vae == ("sdxl_vae.safetensors",)
    assert catalogue.missing_classes(["KSampler", "Nope"]) == {"Nope"}
    assert (await comfy.queue()).depth == 0


async def test_two_prompts_share_one_socket(comfy: ComfyUIClient) -> None:
    first, second = txt2img(seed=1, prefix="a"), txt2img(seed=2, prefix="b")
    results = await asyncio.gather(comfy.run(first), comfy.run(second))
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert results[0].outputs[0].filename == "a_00001_.png"
    assert results[1].outputs[0].filename == "b_00001_.png"
