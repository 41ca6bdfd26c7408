"""Output refs and history parsing, for every kind of output a history entry can hold."""

from __future__ import annotations

import pytest

from worker.comfyui.history import parse_history
from worker.comfyui.outputs import OutputRef, parse_outputs

OUTPUTS = {
    "9": {"images": [{"filename": "a_00001_.png", "subfolder": "sub", "type": "output"}]},
    "10": {
        "images": [{"filename": "ComfyUI_temp_abcde_00001_.png", "subfolder": "", "type": "temp"}]
    },
    "11": {
        "gifs": [
            {
                "filename": "v_00001.mp4",
                "subfolder": "",
                "type": "output",
                "format": "video/h264-mp4",
                "frame_rate": 8.0,
            }
        ]
    },
    "12": {"audio": [{"filename": "s_00001_.flac", "subfolder": "audio", "type": "output"}]},
    "13": {"text": ["hel"]},
    "14": {
        "images": [{"filename": "anim.webp", "subfolder": "", "type": "output"}],
        "animated": [True],
    },
}


def test_every_kind_of_output() -> None:
    refs = parse_outputs(OUTPUTS)
    assert [(r.node, r.kind) for r in refs] == [
        ("9", "images"),
        ("10", "images"),
        ("11", "gifs"),
        ("12", "audio"),
        ("13", "text"),
        ("14", "images"),
    ]
    assert refs[0].view_params() == {
        "filename": "a_00001_.png",
        "subfolder": "sub",
        "type": "output",
    }
    assert refs[1].is_temp and refs[0].content_type == "image/png"
    assert refs[2].content_type == "video/h264-mp4"
    assert refs[3].content_type in ("audio/flac", "audio/x-flac")
    assert (
        refs[4] == OutputRef(node="13", kind="text", text="hel", type="text")
        and not refs[4].is_file
    )
    assert refs[5].content_type == "image/webp"
    with pytest.raises(ValueError, match="text"):
        refs[4].view_params()


def test_history_both_formats() -> None:
    entry = {
        "prompt": [0, "p", {}, {}, ["9"]],
        "outputs": {"9": OUTPUTS["9"]},
        "status": {
            "status_str": "success",
            "completed": True,
            "messages": [
                ["execution_start", {"prompt_id": "p"}],
                ["execution_success", {"prompt_id": "p"}],
            ],
        },
    }
    record = parse_history("p", {"p": entry})
    assert record is not None and record.succeeded and len(record.outputs) == 1
    assert parse_history("p", entry) == record  # the old bare-entry answer
    assert parse_history("p", {}) is None
    assert parse_history("p", {"other": entry}) is None
    old = parse_history("p", {"p": {"prompt": [], "outputs": {"9": OUTPUTS["9"]}}})
    assert old is not None and old.succeeded


def test_history_of_failures() -> None:
    error = {"prompt_id": "p", "node_id": "3", "exception_type": "torch.OutOfMemoryError"}
    entry = {
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [["execution_start", {}], ["execution_error", error]],
        },
    }
    record = parse_history("p", {"p": entry})
    assert record is not None and not record.succeeded
    assert record.last("execution_error", "execution_interrupted") == error
