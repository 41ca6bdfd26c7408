"""The Python gRPC client (clients/python) against a live gateway.

Also proves the package installs alone (``pip install ./clients/python`` into a fresh
venv, where the server's package is absent) and that its example generates an image
showing progress events from the stream before its outputs.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from comfyui_gateway_client import (
    AsyncGatewayClient,
    Credentials,
    GatewayClient,
    JobFailed,
    NotFound,
    RetryPolicy,
    Unavailable,
    ValidationError,
)
from comfyui_gateway_client.v1 import jobs_pb2

from tests.clients.conftest import INPUTS, ROOT, STEPS, progress_lines_before_outputs
from tests.ports import free_port
from tests.stack import GatewayStack


def test_generate_streams_progress_then_returns_outputs(gateway: GatewayStack) -> None:
    events: list[jobs_pb2.JobEvent] = []
    with GatewayClient(gateway.grpc_address) as gw:
        job = gw.generate("sdxl_realism_v1", INPUTS, on_progress=events.append)
        assert job.status == "succeeded" and job.progress == 100
        progress = [e for e in events if e.type == "progress"]
        assert len(progress) >= 3
        assert progress[-1].max_steps == STEPS
        assert events[-1].type == "terminal"
        assert [e.progress for e in events] == sorted(e.progress for e in events)

        output = job.outputs[0]
        sink = io.BytesIO()
        size = gw.download(job.job_id, output.url.rsplit("/", 1)[1], sink)
        assert size == output.size
        assert hashlib.sha256(sink.getvalue()).hexdigest() == output.sha256
        listed = gw.outputs(job.job_id)
        assert [f.sha256 for f in listed] == [output.sha256]
        assert any("KSampler" in line.message for line in gw.logs(job.job_id))
        assert job.job_id in {j.job_id for j in gw.list(workflow_id="sdxl_realism_v1").jobs}


def test_generate_with_an_output_format_then_delete(gateway: GatewayStack) -> None:
    with GatewayClient(gateway.grpc_address) as gw:
        job = gw.generate("sdxl_realism_v1", INPUTS, output_format="webp", quality=75)
        assert job.output_format.format == "webp" and job.output_format.quality == 75
        assert job.outputs[0].content_type == "image/webp"
        sink = io.BytesIO()
        gw.download(job.job_id, job.outputs[0].url.rsplit("/", 1)[1], sink)
        assert sink.getvalue()[:4] == b"RIFF" and sink.getvalue()[8:12] == b"WEBP"
        with pytest.raises(ValidationError):
            gw.submit("sdxl_realism_v1", INPUTS, output_format="bmp")
        gw.delete(job.job_id)
        with pytest.raises(NotFound):
            gw.get(job.job_id)


def test_submit_is_idempotent_per_request_id(gateway: GatewayStack) -> None:
    with GatewayClient(gateway.grpc_address) as gw:
        first = gw.submit("icon_512", {**INPUTS, "steps": 2}, request_id="same-request")
        again = gw.submit("icon_512", {**INPUTS, "steps": 2}, request_id="same-request")
        assert again.job_id == first.job_id
        assert list(gw.watch(first.job_id))[-1].status == "succeeded"


def test_cancel_ends_the_stream_and_generate_raises_job_failed(gateway: GatewayStack) -> None:
    with GatewayClient(gateway.grpc_address) as gw:
        created = gw.submit("sdxl_realism_v1", {**INPUTS, "steps": 150})
        stream = gw.watch(created.job_id)
        for event in stream:
            if event.type == "progress":
                break
        assert gw.cancel(created.job_id).status == "cancelling"  # running: asked
        rest = list(stream)
        assert rest[-1].type == "terminal" and rest[-1].status == "cancelled"

        asked: list[str] = []

        def cancel_once_running(event: jobs_pb2.JobEvent) -> None:
            # Once: a progress event still in flight may arrive after the job ended, and
            # cancelling a finished job is a 409.
            if event.type == "progress" and event.progress < 100 and not asked:
                asked.append(gw.cancel(event.job_id).status)

        with pytest.raises(JobFailed) as failed:
            gw.generate(
                "sdxl_realism_v1", {**INPUTS, "steps": 150}, on_progress=cancel_once_running
            )
        assert failed.value.job.status == "cancelled" and asked == ["cancelling"]
        assert failed.value.code == "CANCELLED"


def test_errors_are_typed_with_the_gateway_codes(gateway: GatewayStack) -> None:
    with GatewayClient(gateway.grpc_address) as gw:
        with pytest.raises(NotFound) as missing:
            gw.get("00000000-0000-0000-0000-000000000000")
        assert missing.value.code == "JOB_NOT_FOUND"
        assert missing.value.status is grpc.StatusCode.NOT_FOUND
        with pytest.raises(NotFound) as unknown:
            gw.submit("no_such_workflow", {"prompt": "x"})
        assert unknown.value.code == "WORKFLOW_NOT_FOUND"
        with pytest.raises(ValidationError) as invalid:
            gw.submit("sdxl_realism_v1", {"width": 64})
        assert invalid.value.code == "VALIDATION_ERROR"
        assert "prompt" in str(invalid.value.details)


def test_unreachable_gateway_is_retried_with_backoff_then_unavailable() -> None:
    policy = RetryPolicy(attempts=3, initial_delay_s=0.05, max_delay_s=0.1)
    with GatewayClient(f"127.0.0.1:{free_port()}", retry=policy, timeout_s=2) as gw:
        started = time.monotonic()
        with pytest.raises(Unavailable) as down:
            gw.health()
        # two waits between three tries: at least half of 0.05 + 0.1
        assert time.monotonic() - started >= 0.07
        assert down.value.status is grpc.StatusCode.UNAVAILABLE


def test_credentials_become_grpc_metadata() -> None:
    assert Credentials(api_key="k").metadata() == (("x-api-key", "k"),)
    assert Credentials(token="t").metadata() == (("authorization", "Bearer t"),)
    assert Credentials().metadata() == ()
    with pytest.raises(ValueError, match="not both"):
        Credentials(api_key="k", token="t")


async def test_async_client_generates_and_downloads(gateway: GatewayStack, tmp_path: Path) -> None:
    seen: list[str] = []
    async with AsyncGatewayClient(gateway.grpc_address) as gw:
        assert (await gw.health()).ok
        job = await gw.generate("icon_512", INPUTS, on_progress=lambda e: seen.append(e.type))
        assert seen.count("progress") >= 3 and seen[-1] == "terminal"
        output = job.outputs[0]
        size = await gw.download(job.job_id, output.filename, tmp_path / "icon.png")
        assert size == output.size
        assert hashlib.sha256((tmp_path / "icon.png").read_bytes()).hexdigest() == output.sha256
        with pytest.raises(NotFound):
            await gw.outputs("00000000-0000-0000-0000-000000000000")


def test_installs_alone_and_the_example_shows_progress_then_outputs(
    gateway: GatewayStack, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, str(ROOT / "clients" / "python")], check=True, timeout=240)
    server_absent = subprocess.run(
        [python, "-c", "import comfyui_gateway"], capture_output=True, cwd=tmp_path
    )
    assert server_absent.returncode != 0
    example = str(ROOT / "examples" / "python" / "generate.py")
    run = subprocess.run(
        [python, example, "--target", gateway.grpc_address, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    print("\n".join(lines))
    assert progress_lines_before_outputs(lines) >= 3
    assert any(line.startswith("output ") and "image/png" in line for line in lines)


INVERT = {
    "id": "client_invert",
    "name": "client_invert",
    "workflowJson": {
        "1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}},
    },
    "inputSchema": {"type": "object", "fields": {"image": {"type": "image", "required": True}}},
}


def _register_invert(gateway: GatewayStack) -> None:
    import requests

    answer = requests.post(f"{gateway.base_url}/workflows", json=INVERT, timeout=10)
    assert answer.status_code in (201, 409), answer.text


def _inverted_output(gw: GatewayClient, job: jobs_pb2.Job) -> bytes:
    sink = io.BytesIO()
    gw.download(job.job_id, job.outputs[0].url.rsplit("/", 1)[1], sink)
    return sink.getvalue()


def test_upload_and_generate_with_images(gateway: GatewayStack, tmp_path: Path) -> None:
    from tests.media_helpers import b64, inverted, noise_png, rgb_bytes

    _register_invert(gateway)
    picture = noise_png(24, 16, seed=41)
    (tmp_path / "in.png").write_bytes(picture)
    with GatewayClient(gateway.grpc_address) as gw:
        upload = gw.upload(picture, "image/png")
        assert upload.ref.startswith("upload://up_") and (upload.width, upload.height) == (24, 16)
        for source in (tmp_path / "in.png", upload.ref, b64(picture)):
            job = gw.generate("client_invert", {}, images={"image": source})
            assert rgb_bytes(_inverted_output(gw, job))[1] == inverted(picture)
        with pytest.raises(ValidationError):
            gw.upload(b"text pretending to be a picture", "image/png")


async def test_async_upload_and_generate_with_images(gateway: GatewayStack) -> None:
    from tests.media_helpers import inverted, noise_png, rgb_bytes

    _register_invert(gateway)
    picture = noise_png(18, 12, seed=43)
    async with AsyncGatewayClient(gateway.grpc_address) as gw:
        upload = await gw.upload(io.BytesIO(picture), "image/png")
        assert upload.size == len(picture)
        job = await gw.generate("client_invert", {}, images={"image": picture})
    with GatewayClient(gateway.grpc_address) as sync:
        assert rgb_bytes(_inverted_output(sync, job))[1] == inverted(picture)
