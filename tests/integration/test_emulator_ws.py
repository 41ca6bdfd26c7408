"""The emulator's WebSocket: handshake, message sequences, routing, reconnects, previews."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import aiohttp

from comfyui_emulator import Emulator
from tests.emulator_helpers import (
    WsRecorder,
    emulator_config,
    fail,
    post_prompt,
    three_nodes,
    txt2img,
    wait_history,
)

pytest_plugins = ("tests.emulator_fixtures",)


async def test_first_frame_and_feature_flags(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    assert await ws.next() == {
        "type": "status",
        "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "X"},
    }
    await ws.ws.send_str(
        json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    )
    assert await ws.next() == {
        "type": "feature_flags",
        "data": {"supports_preview_metadata": True, "max_upload_size": 104857600},
    }
    await ws.close()
    anonymous = await WsRecorder.connect(raw_http, emulator.base_url + "/api", None)
    assert re.fullmatch(r"[0-9a-f]{32}", (await anonymous.next())["data"]["sid"])
    await anonymous.close()


async def test_three_node_sequence(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    await ws.next()
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": three_nodes(), "client_id": "X"}
    )
    pid = answer["prompt_id"]
    messages = await ws.until_idle(pid)
    assert ws.kinds(messages) == [
        "status",
        "status",
        "execution_start",
        "execution_cached",
        "progress_state",
        "executing",
        "progress_state",
        "progress_state",
        "executing",
        "progress_state",
        "progress_state",
        "executing",
        "executed",
        "progress_state",
        "execution_success",
        "status",
        "executing",
    ]
    assert [
        m["data"]["status"]["exec_info"]["queue_remaining"]
        for m in messages
        if m["type"] == "status"
    ] == [1, 1, 0]
    assert messages[3]["data"]["nodes"] == []
    assert messages[5]["data"] == {"node": "1", "display_node": "1", "prompt_id": pid}
    running = messages[4]["data"]["nodes"]["1"]
    assert running == {
        "value": 0.0,
        "max": 1.0,
        "state": "running",
        "node_id": "1",
        "prompt_id": pid,
        "display_node_id": "1",
        "parent_node_id": None,
        "real_node_id": "1",
    }
    assert set(messages[13]["data"]["nodes"]) == {"1", "2", "3"}
    assert messages[12]["data"]["output"] == {
        "images": [{"filename": "gw_test_00001_.png", "subfolder": "", "type": "output"}]
    }
    assert messages[-1]["data"] == {"node": None, "prompt_id": pid}
    await ws.close()


async def test_sampler_progress_counts_from_one(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(steps=3), "client_id": "X"}
    )
    messages = await ws.until_idle(answer["prompt_id"])
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert progress == [
        {"value": step, "max": 3, "prompt_id": answer["prompt_id"], "node": "3"}
        for step in (1, 2, 3)
    ]
    assert [m["data"]["node"] for m in messages if m["type"] == "executed"] == ["9"]
    await ws.close()


async def test_runtime_error_sequence(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    body = {"prompt": txt2img(), "client_id": "X", "extra_data": fail("node_error", at_step=2)}
    _, answer = await post_prompt(raw_http, emulator.base_url, body)
    messages = await ws.until_idle(answer["prompt_id"])
    assert ws.kinds(messages)[-3:] == ["execution_error", "status", "executing"]
    assert "execution_success" not in ws.kinds(messages)
    error = messages[-3]["data"]
    assert list(error) == [
        "prompt_id",
        "node_id",
        "node_type",
        "executed",
        "exception_message",
        "exception_type",
        "traceback",
        "current_inputs",
        "current_outputs",
        "timestamp",
    ]
    assert error["node_id"] == "3" and error["node_type"] == "KSampler"
    assert error["exception_type"] == "RuntimeError"
    assert error["current_inputs"]["seed"] == [1]
    assert [m["data"]["value"] for m in messages if m["type"] == "progress"] == [1]
    entry = await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    assert entry["status"] == {
        "status_str": "error",
        "completed": False,
        "messages": entry["status"]["messages"],
    }
    assert entry["outputs"] == {} and entry["meta"] == {}
    assert entry["status"]["messages"][-1] == ["execution_error", error]
    await ws.close()


async def test_interrupt_sequence(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(steps=200), "client_id": "X"}
    )
    await ws.until("progress", value=2)
    async with raw_http.post(
        emulator.base_url + "/interrupt", json={"prompt_id": answer["prompt_id"]}
    ) as response:
        assert response.status == 200
    messages = await ws.until_idle(answer["prompt_id"])
    assert ws.kinds(messages)[-3:] == ["execution_interrupted", "status", "executing"]
    interrupted = messages[-3]["data"]
    assert set(interrupted) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert interrupted["node_id"] == "3" and interrupted["node_type"] == "KSampler"
    await ws.close()


async def test_routing_without_client_id(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    other = await WsRecorder.connect(raw_http, emulator.base_url, "other")
    await other.next()
    _, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": txt2img(steps=2)})
    await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    # the last broadcast status (q=0) arrives after the history entry is written
    await other.until("status", status={"exec_info": {"queue_remaining": 0}})
    kinds = set(other.kinds())
    assert {"status", "progress", "progress_state"} <= kinds
    assert not kinds & {
        "execution_start",
        "execution_cached",
        "executing",
        "executed",
        "execution_success",
    }
    await other.close()


async def test_routing_to_the_prompts_client_only(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    mine = await WsRecorder.connect(raw_http, emulator.base_url, "mine")
    other = await WsRecorder.connect(raw_http, emulator.base_url, "other")
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(steps=2), "client_id": "mine"}
    )
    await mine.until_idle(answer["prompt_id"])
    await other.until("status", status={"exec_info": {"queue_remaining": 0}})
    assert set(other.kinds()) == {"status"}
    await mine.close()
    await other.close()


async def test_reconnect_while_running(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    first = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(steps=40), "client_id": "X"}
    )
    await first.until("progress", value=2)
    await first.close()
    second = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    assert (await second.next())["type"] == "status"
    assert await second.next() == {"type": "executing", "data": {"node": "3"}}
    messages = await second.until_idle(answer["prompt_id"])
    assert "execution_success" in second.kinds(messages)
    await second.close()


async def test_fully_cached_rerun(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    body = {"prompt": txt2img(), "client_id": "X"}
    _, first = await post_prompt(raw_http, emulator.base_url, body)
    first_messages = await ws.until_idle(first["prompt_id"])
    _, second = await post_prompt(raw_http, emulator.base_url, body)
    messages = await ws.until_idle(second["prompt_id"])
    cached = next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"]
    assert sorted(cached) == ["3", "4", "5", "6", "7", "8", "9"]
    # comfyui-protocol.md: no progress_state before executed, one after it.
    assert ws.kinds(messages) == [
        "status",
        "status",
        "execution_start",
        "execution_cached",
        "executed",
        "progress_state",
        "execution_success",
        "status",
        "executing",
    ]
    executed = [m["data"] for m in messages if m["type"] == "executed"]
    first_output = next(m for m in first_messages if m["type"] == "executed")["data"]["output"]
    assert executed == [
        {"node": "9", "display_node": "9", "output": first_output, "prompt_id": second["prompt_id"]}
    ]
    states = [m for m in messages if m["type"] == "progress_state"][-1]["data"]["nodes"]
    assert list(states) == ["9"]  # only nodes that entered the execution list
    assert all(type(state["value"]) is int and state["value"] == 1 for state in states.values())
    entry = await wait_history(raw_http, emulator.base_url, second["prompt_id"])
    assert entry["outputs"] == {"9": first_output}


async def test_only_the_last_prompt_is_cached(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    for body in ({"prompt": txt2img()}, {"prompt": three_nodes()}, {"prompt": txt2img(seed=2)}):
        _, answer = await post_prompt(raw_http, emulator.base_url, {**body, "client_id": "X"})
        messages = await ws.until_idle(answer["prompt_id"])
    cached = next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"]
    assert cached == []
    assert "4" in [m["data"]["node"] for m in messages if m["type"] == "executing"]
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(seed=3), "client_id": "X"}
    )
    messages = await ws.until_idle(answer["prompt_id"])
    cached = next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"]
    assert sorted(cached) == ["4", "5", "6", "7"]
    # Cached dependencies never run: no executing and no progress_state entry for them.
    assert [m["data"]["node"] for m in messages if m["type"] == "executing"] == [
        "3",
        "8",
        "9",
        None,
    ]
    states = [m for m in messages if m["type"] == "progress_state"][-1]["data"]["nodes"]
    assert sorted(states) == ["3", "8", "9"]


async def test_latent_previews_follow_the_feature_flag(
    tmp_path: Path, raw_http: aiohttp.ClientSession
) -> None:
    config = emulator_config(base_dir=tmp_path, preview_method="latent2rgb")
    async with Emulator(config) as server:
        plain = await WsRecorder.connect(raw_http, server.base_url, "plain")
        _, answer = await post_prompt(
            raw_http, server.base_url, {"prompt": txt2img(steps=2), "client_id": "plain"}
        )
        await plain.until_idle(answer["prompt_id"])
        assert len(plain.binary) == 2
        assert struct.unpack(">II", plain.binary[0][:8]) == (1, 1)
        assert plain.binary[0][8:11] == b"\xff\xd8\xff"
        await plain.close()

        flagged = await WsRecorder.connect(raw_http, server.base_url, "flagged")
        await flagged.ws.send_str(
            json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        )
        await flagged.until("feature_flags")
        _, answer = await post_prompt(
            raw_http, server.base_url, {"prompt": txt2img(steps=2, seed=9), "client_id": "flagged"}
        )
        await flagged.until_idle(answer["prompt_id"])
        assert len(flagged.binary) == 2
        frame = flagged.binary[0]
        event, length = struct.unpack(">II", frame[:8])
        metadata = json.loads(frame[8 : 8 + length])
        assert event == 4
        assert metadata == {
            "node_id": "3",
            "prompt_id": answer["prompt_id"],
            "display_node_id": "3",
            "parent_node_id": None,
            "real_node_id": "3",
            "image_type": "image/jpeg",
        }
        await flagged.close()


async def test_default_server_sends_no_previews(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    _, answer = await post_prompt(
        raw_http, emulator.base_url, {"prompt": txt2img(steps=2), "client_id": "X"}
    )
    await ws.until_idle(answer["prompt_id"])
    assert ws.binary == []


async def test_save_image_websocket(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    ws = await WsRecorder.connect(raw_http, emulator.base_url, "X")
    graph = three_nodes()
    graph["1"]["inputs"]["batch_size"] = 2
    graph["3"] = {"class_type": "SaveImageWebsocket", "inputs": {"images": ["2", 0]}}
    _, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": graph, "client_id": "X"})
    messages = await ws.until_idle(answer["prompt_id"])
    assert [
        (m["data"]["value"], m["data"]["max"]) for m in messages if m["type"] == "progress"
    ] == [(0, 2), (1, 2)]
    assert [struct.unpack(">II", frame[:8]) for frame in ws.binary] == [(1, 2), (1, 2)]
    assert ws.binary[0][8:12] == b"\x89PNG"
    assert "executed" not in ws.kinds(messages)
    entry = await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    assert entry["outputs"] == {} and entry["meta"] == {}
