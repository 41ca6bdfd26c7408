"""Every row of the 400 table in comfyui-protocol.md, plus partial validity."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from comfyui_emulator import Emulator
from tests.emulator_helpers import post_prompt, three_nodes, txt2img, wait_history

pytest_plugins = ("tests.emulator_fixtures",)


async def rejected(
    raw_http: aiohttp.ClientSession, emulator: Emulator, body: dict[str, Any]
) -> dict[str, Any]:
    status, answer = await post_prompt(raw_http, emulator.base_url, body)
    assert status == 400, answer
    assert set(answer) == {"error", "node_errors"}
    assert set(answer["error"]) == {"type", "message", "details", "extra_info"}
    return dict(answer)


def with_input(graph: dict[str, Any], node: str, **inputs: Any) -> dict[str, Any]:
    graph[node]["inputs"].update(inputs)
    return graph


async def test_prompt_level_errors(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = three_nodes()
    graph["2"]["class_type"] = "NoSuchNode"
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    assert answer["error"] == {
        "type": "invalid_prompt",
        "message": "Cannot execute because node NoSuchNode does not exist.",
        "details": "Node ID '#2'",
        "extra_info": {},
    }
    assert answer["node_errors"] == {}
    graph = three_nodes()
    del graph["2"]["class_type"]
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    assert answer["error"]["type"] == "invalid_prompt"
    assert answer["error"]["message"].endswith("a node is missing the class_type property.")
    answer = await rejected(raw_http, emulator, {"client_id": "x"})
    assert (
        answer["error"]["type"] == "no_prompt"
        and answer["error"]["message"] == "No prompt provided"
    )
    for prompt in ({}, {"1": three_nodes()["1"]}):
        answer = await rejected(raw_http, emulator, {"prompt": prompt})
        assert answer["error"]["type"] == "prompt_no_outputs"
        assert answer["error"]["message"] == "Prompt has no outputs"


async def test_missing_input(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = three_nodes()
    del graph["1"]["inputs"]["width"]
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    assert answer["error"]["type"] == "prompt_outputs_failed_validation"
    assert answer["node_errors"] == {
        "1": {
            "errors": [
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "width",
                    "extra_info": {"input_name": "width"},
                }
            ],
            "dependent_outputs": ["3"],
            "class_type": "EmptyImage",
        }
    }


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (-5, "value_smaller_than_min", "Value -5 smaller than min of 1"),
        (99999, "value_bigger_than_max", "Value 99999 bigger than max of 16384"),
    ],
)
async def test_out_of_range(
    emulator: Emulator, raw_http: aiohttp.ClientSession, value: int, kind: str, message: str
) -> None:
    answer = await rejected(
        raw_http, emulator, {"prompt": with_input(three_nodes(), "1", width=value)}
    )
    error = answer["node_errors"]["1"]["errors"][0]
    assert error["type"] == kind and error["message"] == message and error["details"] == "width"
    assert error["extra_info"]["input_name"] == "width"
    assert error["extra_info"]["received_value"] == value
    assert error["extra_info"]["input_config"][0] == "INT"


async def test_wrong_type(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    answer = await rejected(
        raw_http, emulator, {"prompt": with_input(three_nodes(), "1", width="abc")}
    )
    error = answer["node_errors"]["1"]["errors"][0]
    assert error["type"] == "invalid_input_type"
    assert error["message"] == "Failed to convert an input value to a INT value"
    assert error["details"].startswith("width, abc, invalid literal")
    assert "exception_message" in error["extra_info"]


async def test_bad_combo(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = three_nodes()
    graph["4"] = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["2", 0],
            "upscale_method": "bogus",
            "width": 8,
            "height": 8,
            "crop": "disabled",
        },
    }
    graph["3"]["inputs"]["images"] = ["4", 0]
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    error = answer["node_errors"]["4"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert error["details"] == (
        "upscale_method: 'bogus' not in ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']"
    )


async def test_unknown_checkpoint_lists_folder(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    answer = await rejected(raw_http, emulator, {"prompt": txt2img(ckpt="missing.safetensors")})
    error = answer["node_errors"]["4"]["errors"][0]
    assert error["type"] == "value_not_in_list" and "missing.safetensors" in error["details"]
    assert sorted(answer["node_errors"]["4"]["dependent_outputs"]) == ["9"]


async def test_load_image_missing_file(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
    }
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    error = answer["node_errors"]["1"]["errors"][0]
    assert error["type"] == "custom_validation_failed"
    assert error["details"] == "image - Invalid image file: x.png"
    assert error["extra_info"] == {"input_name": "image"}  # observed: nothing else
    assert answer["error"]["details"] == ""  # only the output node's own errors go there


async def test_return_type_mismatch(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = txt2img()
    graph["9"]["inputs"]["images"] = ["3", 0]  # LATENT into IMAGE
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    error = answer["node_errors"]["9"]["errors"][0]
    assert error["type"] == "return_type_mismatch"
    assert error["extra_info"]["received_type"] == "LATENT"
    assert error["extra_info"]["linked_node"] == ["3", 0]
    assert error["details"] in answer["error"]["details"]


async def test_link_to_missing_node(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = with_input(three_nodes(), "2", image=["99", 0])
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    error = answer["node_errors"]["2"]["errors"][0]
    assert error["type"] == "exception_during_inner_validation"
    assert error["details"] == "'99'"
    assert error["extra_info"]["exception_type"] == "KeyError"
    assert isinstance(error["extra_info"]["traceback"], list)


async def test_bad_output_index(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = with_input(three_nodes(), "3", images=["2", 5])
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    error = answer["node_errors"]["3"]["errors"][0]
    assert error["type"] == "exception_during_validation"
    assert error["extra_info"]["exception_type"] == "IndexError"


async def test_cycle(emulator: Emulator, raw_http: aiohttp.ClientSession) -> None:
    graph = three_nodes()
    graph["1"] = {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}
    answer = await rejected(raw_http, emulator, {"prompt": graph})
    assert answer["error"]["type"] == "prompt_outputs_failed_validation"
    assert answer["node_errors"] == {}


async def test_partial_validity_runs_the_good_output(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    graph = three_nodes()
    graph["4"] = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}
    graph["5"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["4", 0], "filename_prefix": "bad"},
    }
    status, answer = await post_prompt(raw_http, emulator.base_url, {"prompt": graph})
    assert status == 200
    assert answer["node_errors"]["4"]["errors"][0]["type"] == "required_input_missing"
    entry = await wait_history(raw_http, emulator.base_url, answer["prompt_id"])
    assert entry["prompt"][4] == ["3"]
    assert entry["status"]["status_str"] == "success" and list(entry["outputs"]) == ["3"]


async def test_rejected_prompt_never_queued(
    emulator: Emulator, raw_http: aiohttp.ClientSession
) -> None:
    await rejected(
        raw_http, emulator, {"prompt": with_input(three_nodes(), "1", width=-1), "prompt_id": "bad"}
    )
    async with raw_http.get(emulator.base_url + "/history/bad") as response:
        assert await response.json() == {}
    async with raw_http.get(emulator.base_url + "/queue") as response:
        assert await response.json() == {"queue_running": [], "queue_pending": []}
