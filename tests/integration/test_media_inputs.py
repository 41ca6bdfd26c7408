"""Media inputs end to end: image references of every kind, uploads, bad media.

One stack per queue mode (module scope), like the jobs e2e tests: ``embedded``
(SQLite, local disk) and ``rq`` (two RQ workers, PostgreSQL, S3 on moto). Both can read
``s3://`` inputs from moto and fetch URLs from a local file server reached as
``localhost``, which ``INPUT_ALLOWED_DOMAINS`` lists exactly (``127.0.0.1`` is not, so
a URL naming it is refused as loopback). Auth is on, with two users, so that one
user's upload id is someone else's 404.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import requests
from google.api import httpbody_pb2
from google.protobuf import struct_pb2
from minio import Minio

from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc, uploads_pb2_grpc
from tests.media_helpers import (
    FileServer,
    b64,
    bomb_png,
    file_server,
    inverted,
    noise_png,
    rgb_bytes,
    truncated_png,
)
from tests.s3_fixtures import MotoServer
from tests.stack import GatewayStack, fresh_postgres_database

# Starting a stack (emulator, server, Envoy, workers, init) on a loaded 2-core machine can
# take longer than the default minute, and it counts against the first test.
pytestmark = pytest.mark.timeout(240)

USER_A = "media-user-a"
USER_B = "media-user-b"
ADMIN = "media-admin"
MAX_IMAGE_SIZE = 256
PHOTO = noise_png(40, 24, seed=5)
WIDE = noise_png(300, 20, seed=6)
HUGE = b"\x89PNG\r\n\x1a\n" + bytes(30 * 1024 * 1024)

INVERT_GRAPH = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}},
}


@dataclass
class MediaStack:
    stack: GatewayStack
    files: FileServer
    s3: Minio
    source_bucket: str
    store_bucket: str | None
    """The gateway's own bucket (rq mode); None: local disk."""

    def headers(self, key: str = USER_A) -> dict[str, str]:
        return {"X-API-Key": key}

    def stored_inputs(self) -> set[str]:
        if self.store_bucket is None:
            folder = self.stack.workdir / "outputs" / "_inputs"
            return (
                {p.name for p in folder.iterdir() if not p.name.startswith(".")}
                if folder.exists()
                else set()
            )
        objects = self.s3.list_objects(self.store_bucket, prefix="_inputs/", recursive=True)
        return {str(o.object_name) for o in objects}

    def job_count(self) -> int:
        answer = requests.get(
            f"{self.stack.base_url}/jobs", headers=self.headers(ADMIN), timeout=10
        )
        count: int = answer.json()["count"]
        return count


@pytest.fixture(scope="module", params=["embedded", "rq"])
def media(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    moto_server: MotoServer,
) -> Iterator[MediaStack]:
    workdir = tmp_path_factory.mktemp(f"media-{request.param}")
    s3 = moto_server.client()
    source_bucket = f"media-src-{uuid.uuid4().hex[:10]}"
    s3.make_bucket(source_bucket)
    s3.put_object(source_bucket, "in/photo.png", io.BytesIO(PHOTO), len(PHOTO), "image/png")
    files = {"/photo.png": PHOTO, "/huge.png": HUGE}
    redirects = {"/moved": "/photo.png", "/loop": "/loop"}
    with file_server(files, redirects) as server:
        # A listed host redirecting to an address that is not: the hop is checked again.
        server.redirects["/to_loopback"] = server.url("/photo.png", host="127.0.0.1")
        env = {
            "API_KEYS": f"{USER_A}:user,{USER_B}:user,{ADMIN}:admin",
            "INPUT_ALLOWED_DOMAINS": "*,localhost",
            "MAX_IMAGE_SIZE": str(MAX_IMAGE_SIZE),
            "S3_ENDPOINT": moto_server.endpoint,
            "S3_ACCESS_KEY": moto_server.access_key,
            "S3_SECRET_KEY": moto_server.secret_key,
            "S3_BUCKET": f"media-store-{uuid.uuid4().hex[:10]}",
        }
        if request.param == "embedded":
            with GatewayStack(workdir, env, emulator=True) as stack:
                yield _prepared(MediaStack(stack, server, s3, source_bucket, None))
            return
        env["STORAGE_PROVIDER"] = "s3"
        with fresh_postgres_database() as database_url:
            env["DATABASE_URL"] = database_url
            with GatewayStack(workdir, env, emulator=True, workers=2) as stack:
                yield _prepared(MediaStack(stack, server, s3, source_bucket, env["S3_BUCKET"]))


def _prepared(media: MediaStack) -> MediaStack:
    media.stack.register_bundled_workflows()
    for workflow_id, field in (
        ("invert_test", {"type": "image", "required": True}),
        ("invert_fit", {"type": "image", "required": True, "resize": "fit"}),
    ):
        answer = requests.post(
            f"{media.stack.base_url}/workflows",
            headers=media.headers(ADMIN),
            json={
                "id": workflow_id,
                "name": workflow_id,
                "workflowJson": INVERT_GRAPH,
                "inputSchema": {"type": "object", "fields": {"image": field}},
            },
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
    return media


# -- helpers ---------------------------------------------------------------------------


def upload(media: MediaStack, key: str = USER_A, **kwargs: Any) -> requests.Response:
    headers = {**media.headers(key), **kwargs.pop("headers", {})}
    return requests.post(f"{media.stack.base_url}/uploads", headers=headers, timeout=60, **kwargs)


def reference(media: MediaStack, kind: str, data: bytes = PHOTO) -> str:
    if kind == "base64":
        return b64(data)
    if kind == "data_url":
        return f"data:image/png;base64,{b64(data)}"
    if kind == "url":
        return media.files.url("/moved")  # one redirect, re-checked, to /photo.png
    if kind == "s3":
        return f"s3://{media.source_bucket}/in/photo.png"
    answer = upload(media, headers={"Content-Type": "image/png"}, data=data)
    assert answer.status_code == 201, answer.text
    ref: str = answer.json()["ref"]
    return ref


def submit_rest(media: MediaStack, body: dict[str, Any], key: str = USER_A) -> requests.Response:
    return requests.post(
        f"{media.stack.base_url}/jobs", headers=media.headers(key), json=body, timeout=60
    )


def submit_grpc(media: MediaStack, workflow_id: str, inputs: dict[str, Any]) -> str:
    values = struct_pb2.Struct()
    values.update(inputs)
    with grpc.insecure_channel(media.stack.grpc_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        answer = stub.CreateJob(
            jobs_pb2.CreateJobRequest(workflow_id=workflow_id, inputs=values),
            metadata=(("x-api-key", USER_A),),
            timeout=60,
        )
    return str(answer.job_id)


def wait_for(media: MediaStack, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = requests.get(
            f"{media.stack.base_url}/jobs/{job_id}", headers=media.headers(), timeout=10
        ).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def output_bytes(media: MediaStack, job: dict[str, Any]) -> bytes:
    answer = requests.get(
        f"{media.stack.base_url}{job['outputs'][0]['url']}", headers=media.headers(), timeout=30
    )
    assert answer.status_code == 200
    return answer.content


def assert_inverted(output: bytes, source: bytes) -> None:
    size, pixels = rgb_bytes(output)
    assert size == rgb_bytes(source)[0]
    assert pixels == inverted(source)


def assert_refused(answer: requests.Response, field: str = "inputs.image") -> str:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "VALIDATION_ERROR"
    assert field in [item["field"] for item in body["details"]], body
    message: str = body["message"]
    return message


# -- every kind of reference, REST and gRPC --------------------------------------------

KINDS = ["base64", "data_url", "url", "s3", "upload"]


@pytest.mark.parametrize("kind", KINDS)
def test_image_reference_runs_load_invert_save(media: MediaStack, kind: str) -> None:
    answer = submit_rest(
        media, {"workflowId": "invert_test", "inputs": {"image": reference(media, kind)}}
    )
    assert answer.status_code in (200, 202), answer.text  # later kinds may hit the cache
    job = wait_for(media, answer.json()["jobId"])
    assert job["status"] == "succeeded", job
    assert_inverted(output_bytes(media, job), PHOTO)


@pytest.mark.parametrize("kind", KINDS)
def test_image_reference_over_grpc(media: MediaStack, kind: str) -> None:
    picture = noise_png(33, 17, seed=11) if kind != "s3" and kind != "url" else PHOTO
    job_id = submit_grpc(media, "invert_test", {"image": reference(media, kind, picture)})
    job = wait_for(media, job_id)
    assert job["status"] == "succeeded", job
    assert_inverted(output_bytes(media, job), picture)


def test_identical_bytes_share_one_stored_file_and_the_cache(media: MediaStack) -> None:
    picture = noise_png(21, 13, seed=int(time.time() * 1000) % 10_000)
    first = submit_rest(media, {"workflowId": "invert_test", "inputs": {"image": b64(picture)}})
    assert first.status_code == 202
    assert wait_for(media, first.json()["jobId"])["status"] == "succeeded"
    before = media.stored_inputs()
    again = submit_rest(
        media,
        {"workflowId": "invert_test", "inputs": {"image": f"data:image/png;base64,{b64(picture)}"}},
    )
    # The cache key holds the sha256 of the bytes, not the way they were sent.
    assert again.status_code == 200 and again.json()["status"] == "cache_hit", again.text
    assert media.stored_inputs() == before


def test_resize_fit_scales_and_refuse_is_a_400(media: MediaStack) -> None:
    refused = submit_rest(media, {"workflowId": "invert_test", "inputs": {"image": b64(WIDE)}})
    assert "MAX_IMAGE_SIZE" in assert_refused(refused)
    fitted = submit_rest(media, {"workflowId": "invert_fit", "inputs": {"image": b64(WIDE)}})
    assert fitted.status_code == 202, fitted.text
    job = wait_for(media, fitted.json()["jobId"])
    assert job["status"] == "succeeded", job
    (width, height), _ = rgb_bytes(output_bytes(media, job))
    assert width == MAX_IMAGE_SIZE and height == round(20 * MAX_IMAGE_SIZE / 300)


# -- uploads -----------------------------------------------------------------------------


def test_upload_raw_and_multipart_answer_201_with_the_same_content(media: MediaStack) -> None:
    raw = upload(media, headers={"Content-Type": "image/png"}, data=PHOTO)
    form = upload(media, files={"file": ("photo.png", PHOTO, "image/png")})
    assert raw.status_code == 201 and form.status_code == 201, (raw.text, form.text)
    one, two = raw.json(), form.json()
    assert set(one) == {"uploadId", "ref", "sha256", "size", "contentType", "width", "height"}
    assert one["ref"] == f"upload://{one['uploadId']}" and one["uploadId"] != two["uploadId"]
    for body in (one, two):
        assert (body["sha256"], body["size"], body["contentType"]) == (
            __import__("hashlib").sha256(PHOTO).hexdigest(),
            len(PHOTO),
            "image/png",
        )
        assert (body["width"], body["height"]) == (40, 24)


def test_upload_over_grpc_streams_chunks(media: MediaStack) -> None:
    picture = noise_png(50, 30, seed=21)
    chunks = [picture[i : i + 1000] for i in range(0, len(picture), 1000)]
    messages = [httpbody_pb2.HttpBody(content_type="image/png", data=chunks[0])]
    messages += [httpbody_pb2.HttpBody(data=chunk) for chunk in chunks[1:]]
    with grpc.insecure_channel(media.stack.grpc_address) as channel:
        stub = uploads_pb2_grpc.UploadServiceStub(channel)
        answer = stub.CreateUpload(iter(messages), metadata=(("x-api-key", USER_A),), timeout=30)
    assert (answer.width, answer.height, answer.size) == (50, 30, len(picture))
    job_id = submit_grpc(media, "invert_test", {"image": answer.ref})
    assert_inverted(output_bytes(media, wait_for(media, job_id)), picture)


def test_upload_above_max_request_bytes_but_within_max_input_bytes(media: MediaStack) -> None:
    blob = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # 12 MiB: over the 10 MiB JSON limit
    answer = upload(media, headers={"Content-Type": "application/octet-stream"}, data=blob)
    assert answer.status_code == 201, answer.text[:300]
    assert answer.json()["size"] == len(blob) and answer.json()["width"] == 0


def test_upload_over_max_input_bytes_is_413_and_stores_nothing(media: MediaStack) -> None:
    before = media.stored_inputs()
    answer = upload(media, headers={"Content-Type": "image/png"}, data=HUGE)
    assert answer.status_code == 413
    assert answer.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert media.stored_inputs() == before


def test_another_users_upload_is_not_found(media: MediaStack) -> None:
    ref = reference(media, "upload")
    answer = submit_rest(media, {"workflowId": "invert_test", "inputs": {"image": ref}}, key=USER_B)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "UPLOAD_NOT_FOUND"
    unknown = submit_rest(
        media, {"workflowId": "invert_test", "inputs": {"image": "upload://up_" + "0" * 32}}
    )
    assert unknown.status_code == 404


def test_uploads_need_credentials(media: MediaStack) -> None:
    answer = requests.post(
        f"{media.stack.base_url}/uploads",
        data=PHOTO,
        headers={"Content-Type": "image/png"},
        timeout=10,
    )
    assert answer.status_code == 401


# -- bad media: a 400 naming the field, and nothing stored --------------------------------


BAD: dict[str, Callable[[MediaStack], str]] = {
    "truncated_png": lambda m: b64(truncated_png()),
    "bomb_1x1_claims_100000x100000": lambda m: b64(bomb_png()),
    "text_named_png": lambda m: "data:image/png;base64," + b64(b"just some text, not a picture"),
    "thirty_megabytes": lambda m: m.files.url("/huge.png"),
    "loopback_not_listed": lambda m: m.files.url("/photo.png", host="127.0.0.1"),
    "redirect_loop": lambda m: m.files.url("/loop"),
    "redirect_to_loopback": lambda m: m.files.url("/to_loopback"),
    "missing_s3_object": lambda m: f"s3://{m.source_bucket}/nope.png",
    "not_a_reference": lambda m: "photo.png",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_media_is_a_400_naming_the_field_and_stores_nothing(
    media: MediaStack, case: str
) -> None:
    before = (media.stored_inputs(), media.job_count())
    answer = submit_rest(
        media, {"workflowId": "invert_test", "inputs": {"image": BAD[case](media)}}
    )
    message = assert_refused(answer)
    assert "Traceback" not in message and "PIL" not in message
    assert (media.stored_inputs(), media.job_count()) == before


def test_a_text_file_uploaded_as_png_is_refused(media: MediaStack) -> None:
    before = media.stored_inputs()
    answer = upload(media, files={"file": ("photo.png", b"hello, not a picture")})
    assert_refused(answer, field="file")
    assert media.stored_inputs() == before


# -- the CLI ---------------------------------------------------------------------------


def test_cli_submit_uploads_a_local_file(media: MediaStack, tmp_path: Any) -> None:
    picture = noise_png(19, 23, seed=31)
    (tmp_path / "photo.png").write_bytes(picture)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "comfyui_gateway", "submit", "invert_test"]
    argv += ["-i", f"image=@{tmp_path / 'photo.png'}", "--watch", "--out", str(out)]
    argv += ["--target", media.stack.grpc_address, "--api-key", USER_A]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "upload://up_" in done.stdout
    (saved,) = out.iterdir()
    assert_inverted(saved.read_bytes(), picture)


def test_urls_and_bytes_never_reach_the_logs(media: MediaStack) -> None:
    secret = f"sig{uuid.uuid4().hex}"
    picture = noise_png(9, 7, seed=71)
    media.files.files["/signed.png"] = picture
    good = submit_rest(
        media,
        {
            "workflowId": "invert_test",
            "inputs": {"image": media.files.url(f"/signed.png?X-Sig={secret}")},
        },
    )
    assert good.status_code == 202, good.text
    job = wait_for(media, good.json()["jobId"])
    assert job["status"] == "succeeded"
    assert secret not in str(job) and job["inputs"]["image"].startswith("gateway/")
    refused = submit_rest(
        media,
        {
            "workflowId": "invert_test",
            "inputs": {"image": media.files.url(f"/nope.png?X-Sig={secret}")},
        },
    )
    assert secret not in refused.text
    assert_refused(refused)
    logs = requests.get(
        f"{media.stack.base_url}/jobs/{job['jobId']}/logs", headers=media.headers(), timeout=10
    ).text
    processes = ["server", *(f"worker-{i}" for i in range(media.stack.worker_count))]
    for text in [logs, *(media.stack.log(name) for name in processes)]:
        assert secret not in text
        assert b64(picture)[:40] not in text


# -- the bundled img2img_v1 (branch emulator-media) ------------------------------------


@pytest.mark.parametrize("api", ["rest", "grpc"])
@pytest.mark.parametrize("kind", KINDS)
def test_img2img_runs_with_each_kind_of_reference(media: MediaStack, kind: str, api: str) -> None:
    picture = PHOTO if kind in ("url", "s3") else noise_png(48, 32, seed=81)
    inputs = {"image": reference(media, kind, picture), "prompt": f"{kind} {api}", "steps": 3}
    if api == "rest":
        answer = submit_rest(media, {"workflowId": "img2img_v1", "inputs": inputs})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["jobId"]
    else:
        job_id = submit_grpc(media, "img2img_v1", inputs)
    job = wait_for(media, job_id)
    assert job["status"] == "succeeded", job
    (size, _), (source_size, _) = rgb_bytes(output_bytes(media, job)), rgb_bytes(picture)
    assert size == source_size
