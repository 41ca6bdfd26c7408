"""The bundled media workflows through the gateway: REST via Envoy and gRPC, one embedded
stack with the emulator (SQLite, local disk), registered by ``comfyui-gateway init``.

Each job's image goes in as base64 or as an upload reference; the worker uploads it to
the emulator and substitutes ComfyUI's file name, so these are the same graphs a real
ComfyUI 0.3.64 with an SD 1.5 checkpoint runs.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import struct_pb2
from PIL import Image

from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc
from tests.media_helpers import b64
from tests.stack import GatewayStack

KEY = "media-workflows-user"
HEADERS = {"X-API-Key": KEY}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((200, 30, 30), (8, 8, 32, 24))
    return image


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("media-workflows")
    env = {"API_KEYS": f"{KEY}:user", "MAX_IMAGE_SIZE": "512"}
    with GatewayStack(workdir, env, emulator=True) as running:
        running.register_bundled_workflows()
        yield running


def submit(stack: GatewayStack, workflow_id: str, inputs: dict[str, Any]) -> str:
    answer = requests.post(
        f"{stack.base_url}/jobs",
        headers=HEADERS,
        json={"workflowId": workflow_id, "inputs": inputs},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["jobId"]
    return job_id


def upload_ref(stack: GatewayStack, data: bytes) -> str:
    answer = requests.post(
        f"{stack.base_url}/uploads",
        headers={**HEADERS, "Content-Type": "image/png"},
        data=data,
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    ref: str = answer.json()["ref"]
    return ref


def result(stack: GatewayStack, job_id: str, timeout_s: float = 90) -> Image.Image:
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.base_url}/jobs/{job_id}", headers=HEADERS, timeout=10).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert job.get("status") == "succeeded", job
    answer = requests.get(
        f"{stack.base_url}{job['outputs'][0]['url']}", headers=HEADERS, timeout=30
    )
    assert answer.status_code == 200
    picture = Image.open(io.BytesIO(answer.content))
    picture.load()
    return picture.convert("RGB")


def test_img2img_over_rest_keeps_the_input_size(stack: GatewayStack) -> None:
    source = photo((64, 48))
    base = {"prompt": "a fox", "image": b64(png(source)), "steps": 2}
    changed = result(stack, submit(stack, "img2img_v1", base))
    kept = result(stack, submit(stack, "img2img_v1", {**base, "denoise": 0}))
    assert changed.size == kept.size == (64, 48)
    assert kept.tobytes() == source.tobytes()  # denoise 0 is the input
    assert changed.tobytes() != source.tobytes()


def test_inpaint_over_grpc_with_uploads(stack: GatewayStack) -> None:
    source = photo((64, 64))
    mask = Image.new("RGB", (64, 64))
    mask.paste((255, 255, 255), (16, 16, 48, 48))
    inputs = struct_pb2.Struct()
    inputs.update(
        {
            "prompt": "a hole",
            "image": upload_ref(stack, png(source)),
            "mask": upload_ref(stack, png(mask)),
            "steps": 2,
        }
    )
    with grpc.insecure_channel(stack.grpc_address) as channel:
        answer = jobs_pb2_grpc.JobServiceStub(channel).CreateJob(
            jobs_pb2.CreateJobRequest(workflow_id="inpaint_v1", inputs=inputs),
            metadata=(("x-api-key", KEY),),
            timeout=60,
        )
    picture = result(stack, answer.job_id)
    assert picture.size == (64, 64)
    outside, inside = (0, 0, 64, 12), (20, 20, 44, 44)
    assert picture.crop(outside).tobytes() == source.crop(outside).tobytes()
    assert picture.crop(inside).tobytes() != source.crop(inside).tobytes()


@pytest.mark.parametrize(
    ("workflow_id", "inputs", "size"),
    [
        ("upscale_v1", {}, (80, 48)),
        ("upscale_model_v1", {"scale_by": 0.5}, (80, 48)),  # RealESRGAN_x4plus, halved
    ],
)
def test_upscale_workflows(
    stack: GatewayStack, workflow_id: str, inputs: dict[str, Any], size: tuple[int, int]
) -> None:
    source = png(photo((40, 24)))
    assert result(stack, submit(stack, workflow_id, {"image": b64(source), **inputs})).size == size


def test_missing_image_is_refused(stack: GatewayStack) -> None:
    answer = requests.post(
        f"{stack.base_url}/jobs",
        headers=HEADERS,
        json={"workflowId": "img2img_v1", "inputs": {"prompt": "x"}},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "VALIDATION_ERROR"
    assert "inputs.image" in [item["field"] for item in answer.json()["details"]]
