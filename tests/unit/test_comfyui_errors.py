"""Classifying ComfyUI failures into the gateway's error tree."""

from __future__ import annotations

import pytest

from comfyui_gateway.errors import ComfyUINodeError, ComfyUIOutOfMemory
from worker.comfyui.errors import classify_execution_error, classify_rejection, is_out_of_memory


@pytest.mark.parametrize(
    ("exception_type", "message"),
    [
        ("torch.OutOfMemoryError", "anything"),
        ("torch.cuda.OutOfMemoryError", ""),
        ("RuntimeError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("RuntimeError", "Allocation on device 0 would exceed allowed memory. (out of memory)"),
        ("RuntimeError", "MPS backend out of memory"),
        ("RuntimeError", "allocator backend out of memory"),
        ("RuntimeError", "HIP error: failed to allocate 1024 bytes"),
        (None, "DefaultCPUAllocator: not enough memory: you tried to allocate; out of memory"),
    ],
)
def test_out_of_memory_by_type_then_phrase(exception_type: str | None, message: str) -> None:
    assert is_out_of_memory(exception_type, message)
    error = classify_execution_error(
        {
            "prompt_id": "p",
            "node_id": "3",
            "node_type": "KSampler",
            "exception_type": exception_type,
            "exception_message": message,
        }
    )
    assert isinstance(error, ComfyUIOutOfMemory) and error.details["nodeId"] == "3"


def test_other_errors_are_node_errors_without_tracebacks() -> None:
    payload = {
        "prompt_id": "p",
        "node_id": "8",
        "node_type": "VAEDecode",
        "exception_type": "RuntimeError",
        "exception_message": "mat1 and mat2 shapes cannot be multiplied\n",
        "traceback": ["secret"],
        "current_inputs": {"text": ["my private prompt"]},
    }
    error = classify_execution_error(payload)
    assert type(error) is ComfyUINodeError
    assert error.message == "Node 8 (VAEDecode) failed: mat1 and mat2 shapes cannot be multiplied"
    assert error.details == {
        "promptId": "p",
        "nodeId": "8",
        "nodeType": "VAEDecode",
        "exceptionType": "RuntimeError",
        "comfyuiMessage": "mat1 and mat2 shapes cannot be multiplied",
    }
    assert "private" not in str(error.to_job_error())


def test_rejection_keeps_node_errors() -> None:
    body = {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "4": {
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": "ckpt_name: 'x' not in [...]",
                        "extra_info": {"traceback": ["x"]},
                    }
                ],
                "dependent_outputs": ["9"],
                "class_type": "CheckpointLoaderSimple",
            }
        },
    }
    error = classify_rejection(400, body)
    assert error.details["nodeId"] == "4" and error.details["nodeType"] == "CheckpointLoaderSimple"
    assert "traceback" not in error.details["nodeErrors"]["4"]["errors"][0]["extra_info"]
    assert "Value not in list" in error.message
    plain = classify_rejection(
        400,
        {
            "error": {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
            },
            "node_errors": {},
        },
    )
    assert plain.details["errorType"] == "no_prompt" and plain.details["nodeId"] is None
    assert "HTTP 400" in classify_rejection(400, None).message
