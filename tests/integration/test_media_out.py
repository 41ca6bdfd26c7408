"""Media out end to end: output formats, metadata stripping, live previews, deletion.

Two module-scoped stacks, both in privacy mode, with API keys and the emulator
sending latent previews:

``embedded``: SQLite, local disk, workers inside the API process.
``rq``: PostgreSQL, S3 (moto's server), one ``comfyui-gateway worker`` process.

Everything goes through REST via Envoy, and through gRPC where the contract has a
twin. Retention runs in each stack's maintenance loop (``JOB_RETENTION_DAYS=1``):
jobs are made old by moving their timestamps back in the database.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from minio import Minio
from PIL import Image

from comfyui_gateway.v1 import jobs_pb2, jobs_pb2_grpc, outputs_pb2, outputs_pb2_grpc
from tests.s3_fixtures import MotoServer
from tests.stack import GatewayStack, fresh_postgres_database

ADMIN_KEY = "media-admin-key"
USER_KEY = "media-user-key"
OTHER_KEY = "media-other-key"
ADMIN = {"X-API-Key": ADMIN_KEY}
USER = {"X-API-Key": USER_KEY}
OTHER = {"X-API-Key": OTHER_KEY}
SMALL = {"width": 64, "height": 64, "steps": 3}
DEADLINE_S = 60.0

# Two stacks (one with PostgreSQL, S3 and an RQ worker) start inside the first test's
# budget; on a loaded machine that alone can take more than the default 60 s.
pytestmark = pytest.mark.timeout(240)


class Receiver:
    """A webhook receiver on a free loopback port, keeping every JSON body it got."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            for body in list(self.bodies):
                if body.get("jobId") == job_id:
                    return body
            time.sleep(0.1)
        raise AssertionError(f"no webhook for job {job_id}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Media:
    """One running stack plus what the tests need to look behind it."""

    def __init__(self, stack: GatewayStack, mode: str, s3: Minio | None, bucket: str) -> None:
        self.stack = stack
        self.mode = mode
        self.s3 = s3
        self.bucket = bucket
        self.receiver = Receiver()
        self.channel = grpc.insecure_channel(stack.grpc_address)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.outputs = outputs_pb2_grpc.OutputServiceStub(self.channel)

    @property
    def url(self) -> str:
        return self.stack.base_url

    @property
    def local_root(self) -> Path:
        return Path(self.stack.env["STORAGE_LOCAL_PATH"])

    def post(self, body: dict[str, Any], headers: dict[str, str] = USER) -> requests.Response:
        return requests.post(f"{self.url}/jobs", json=body, headers=headers, timeout=10)

    def submit(self, body: dict[str, Any], headers: dict[str, str] = USER) -> str:
        response = self.post(body, headers)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["jobId"]
        return job_id

    def wait(self, job_id: str, headers: dict[str, str] = USER) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            job: dict[str, Any] = requests.get(
                f"{self.url}/jobs/{job_id}", headers=headers, timeout=10
            ).json()
            if job.get("status") in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish")

    def run(self, body: dict[str, Any], headers: dict[str, str] = USER) -> dict[str, Any]:
        job = self.wait(self.submit(body, headers), headers)
        assert job["status"] == "succeeded", job
        return job

    def stored_bytes(self, storage_path: str) -> bytes:
        """A stored file's bytes, read from the disk or the bucket behind the gateway
        (``storagePath`` is the key, ``<jobId>/<storedName>``, in both)."""
        if self.s3 is not None:
            key = storage_path.removeprefix(f"s3://{self.bucket}/")
            response = self.s3.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        return (self.local_root / storage_path).read_bytes()

    def stored_exists(self, storage_path: str) -> bool:
        if self.s3 is not None:
            key = storage_path.removeprefix(f"s3://{self.bucket}/")
            return any(
                item.object_name == key
                for item in self.s3.list_objects(self.bucket, recursive=True)
            )
        return (self.local_root / storage_path).exists()

    def every_stored_file(self) -> list[bytes]:
        if self.s3 is not None:
            return [
                self.stored_bytes(f"s3://{self.bucket}/{item.object_name}")
                for item in self.s3.list_objects(self.bucket, recursive=True)
            ]
        root = Path(self.stack.env["STORAGE_LOCAL_PATH"])
        return [path.read_bytes() for path in root.rglob("*") if path.is_file()]

    def age(self, job_id: str, days: int) -> None:
        """Move a job's timestamps ``days`` back, straight in the database."""
        self._execute("UPDATE jobs SET created_at = ?, completed_at = ? WHERE id = ?", days, job_id)

    def age_input(self, sha256: str, days: int) -> None:
        self._execute("UPDATE input_files SET created_at = ? WHERE sha256 = ?", days, sha256)

    def _execute(self, sql: str, days: int, key: str) -> None:
        when = datetime.now(UTC) - timedelta(days=days)
        database = self.stack.env["DATABASE_URL"]
        stamps = sql.count("?")
        if database.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute(sql.replace("?", "%s"), (*[when] * (stamps - 1), key))
            return
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
            stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.execute(sql, (*[stamp] * (stamps - 1), key))
            conn.commit()

    def has_cache_entry(self, job_id: str) -> bool:
        """Whether the job's cache entry is written (just after its success commits)."""
        sql = "SELECT count(*) FROM cache_entries WHERE job_id = ?"
        database = self.stack.env["DATABASE_URL"]
        if database.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(database, autocommit=True) as conn:
                row = conn.execute(sql.replace("?", "%s"), (job_id,)).fetchone()
        else:
            with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
                row = conn.execute(sql, (job_id,)).fetchone()
        return bool(row and row[0])

    def input_path(self, sha256: str) -> str:
        if self.s3 is not None:
            return f"s3://{self.bucket}/_inputs/{sha256}.png"
        return str(Path(self.stack.env["STORAGE_LOCAL_PATH"]) / "_inputs" / f"{sha256}.png")

    def close(self) -> None:
        self.channel.close()
        self.receiver.stop()


def _init(stack: GatewayStack) -> None:
    stack.register_bundled_workflows()


@pytest.fixture(scope="module", params=["embedded", "rq"])
def media(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    moto_server: MotoServer,
) -> Iterator[Media]:
    workdir = tmp_path_factory.mktemp(f"media-{request.param}")
    env = {
        "API_KEYS": f"{ADMIN_KEY}:admin,{USER_KEY}:user,{OTHER_KEY}:user",
        "PRIVACY_MODE": "true",
        "PRIVACY_KEY": "media-out-privacy-key",
        "WEBHOOK_ALLOWED_DOMAINS": "127.0.0.1",
        "WEBHOOK_RETRY_BASE_MS": "50",
        "RECONCILE_INTERVAL_MS": "300",
        "JOB_RETENTION_DAYS": "1",
        "COMFYUI_EMULATOR_PREVIEW_METHOD": "latent2rgb",
        "COMFYUI_EMULATOR_STEP_MS": "20",
    }
    if request.param == "embedded":
        stack = GatewayStack(workdir, env, emulator=True).start()
        try:
            _init(stack)
            media = Media(stack, "embedded", None, "")
            yield media
            media.close()
        finally:
            stack.stop()
        return
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    env |= {
        "STORAGE_PROVIDER": "s3",
        "S3_ENDPOINT": moto_server.endpoint,
        "S3_BUCKET": bucket,
        "S3_ACCESS_KEY": moto_server.access_key,
        "S3_SECRET_KEY": moto_server.secret_key,
    }
    with fresh_postgres_database() as database_url:
        env["DATABASE_URL"] = database_url
        stack = GatewayStack(workdir, env, emulator=True, workers=1).start()
        try:
            _init(stack)
            media = Media(stack, "rq", moto_server.client(), bucket)
            yield media
            media.close()
        finally:
            stack.stop()


def _body(prompt: str, *, steps: int = 3, **extra: Any) -> dict[str, Any]:
    inputs = {"prompt": prompt, **SMALL, "steps": steps}
    return {"workflowId": "sdxl_realism_v1", "inputs": inputs, **extra}


def _is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _decodes(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


# -- output formats -----------------------------------------------------------------------


def test_webp_output_is_webp_everywhere_it_is_delivered(media: Media) -> None:
    body = _body(f"heron-{uuid.uuid4().hex}", outputFormat={"format": "webp", "quality": 80})
    body["callbackUrl"] = media.receiver.url
    job = media.run(body)
    assert job["outputFormat"] == {"format": "webp", "quality": 80}
    output = job["outputs"][0]
    assert output["contentType"] == "image/webp"
    assert output["filename"].endswith(".webp") and output["url"].endswith(".webp")

    raw = requests.get(f"{media.url}{output['url']}", headers=USER, timeout=10)
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "image/webp"
    assert _is_webp(raw.content) and _decodes(raw.content) == (64, 64)
    assert hashlib.sha256(raw.content).hexdigest() == output["sha256"]
    assert len(raw.content) == output["size"]

    encoded = requests.get(
        f"{media.url}{output['url']}", params={"format": "base64"}, headers=USER, timeout=10
    ).json()
    assert encoded["contentType"] == "image/webp"
    assert base64.b64decode(encoded["data"]) == raw.content

    assert media.stored_bytes(output["storagePath"]) == raw.content
    # A key (<jobId>/<storedName>), never the server's folder or bucket.
    assert output["storagePath"].startswith(f"{job['jobId']}/")
    assert output["storagePath"].endswith(".webp")

    hook = media.receiver.wait_for(job["jobId"])
    (sent,) = hook["result"]["outputs"]
    assert sent["contentType"] == "image/webp" and sent["sha256"] == output["sha256"]

    listed = requests.get(f"{media.url}/outputs/{job['jobId']}", headers=USER, timeout=10).json()
    assert listed["files"][0]["contentType"] == "image/webp"

    reply = media.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=job["jobId"]), metadata=(("x-api-key", USER_KEY),)
    )
    assert reply.output_format.format == "webp" and reply.outputs[0].content_type == "image/webp"


def test_grpc_create_with_jpg_output_format(media: Media) -> None:
    request = jobs_pb2.CreateJobRequest(
        workflow_id="sdxl_realism_v1",
        output_format=jobs_pb2.OutputFormat(format="jpeg", quality=70),
    )
    request.inputs.update({"prompt": f"owl-{uuid.uuid4().hex}", **SMALL})
    created = media.jobs.CreateJob(request, metadata=(("x-api-key", USER_KEY),))
    job = media.wait(created.job_id)
    assert job["status"] == "succeeded", job
    output = job["outputs"][0]
    assert output["contentType"] == "image/jpeg" and output["filename"].endswith(".jpg")
    data = media.stored_bytes(output["storagePath"])
    assert data[:2] == b"\xff\xd8" and _decodes(data) == (64, 64)


def test_convert_on_download_answers_the_asked_type(media: Media) -> None:
    job = media.run(_body(f"crane-{uuid.uuid4().hex}"))
    output = job["outputs"][0]
    assert output["contentType"] == "image/png"
    url = f"{media.url}{output['url']}"

    as_jpg = requests.get(url, params={"convert": "jpg", "quality": "60"}, headers=USER, timeout=10)
    assert as_jpg.status_code == 200
    assert as_jpg.headers["content-type"] == "image/jpeg"
    assert as_jpg.content[:2] == b"\xff\xd8" and _decodes(as_jpg.content) == (64, 64)
    assert ".jpg" in as_jpg.headers["content-disposition"]

    as_webp = requests.get(url, params={"convert": "webp"}, headers=USER, timeout=10)
    assert as_webp.headers["content-type"] == "image/webp" and _is_webp(as_webp.content)

    chunks = list(
        media.outputs.DownloadOutput(
            outputs_pb2.DownloadOutputRequest(
                job_id=job["jobId"], filename=output["filename"], convert="jpg"
            ),
            metadata=(("x-api-key", USER_KEY),),
        )
    )
    assert chunks[0].content_type == "image/jpeg"
    assert b"".join(chunk.data for chunk in chunks)[:2] == b"\xff\xd8"

    # The stored file itself is untouched by a converted download.
    assert requests.get(url, headers=USER, timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_formats_are_400_naming_the_field(media: Media) -> None:
    cases = [
        ({"format": "gif"}, "outputFormat.format"),
        ({"format": "webp", "quality": 101}, "outputFormat.quality"),
        ({"quality": 50}, "outputFormat.format"),
    ]
    for output_format, field in cases:
        response = media.post(_body("x", outputFormat=output_format))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "VALIDATION_ERROR"
        assert field in response.text, response.text

    job = media.run(_body(f"ibis-{uuid.uuid4().hex}"))
    url = f"{media.url}{job['outputs'][0]['url']}"
    refused = (
        ({"convert": "tiff"}, "convert"),
        ({"convert": "jpg", "quality": "101"}, "quality"),
        ({"quality": "101"}, "quality"),
    )
    for params, field in refused:
        response = requests.get(url, params=params, headers=USER, timeout=10)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "VALIDATION_ERROR"
        assert field in response.text, response.text
    # A quality alone asks for no conversion: the stored bytes, as they are.
    plain = requests.get(url, params={"quality": "5"}, headers=USER, timeout=10)
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"


# -- metadata -----------------------------------------------------------------------------


def test_privacy_mode_keeps_the_prompt_out_of_every_stored_file(media: Media) -> None:
    prompt = f"pangolin-{uuid.uuid4().hex}"
    job = media.run(_body(prompt))
    output = job["outputs"][0]
    stored = media.stored_bytes(output["storagePath"])
    assert stored[:8] == b"\x89PNG\r\n\x1a\n" and _decodes(stored) == (64, 64)
    assert prompt.encode() not in stored
    # ComfyUI (the emulator) did write the prompt into its own copy of the file.
    original = requests.get(
        f"{media.stack.comfyui_url}/view",
        params={"filename": output["filename"], "type": "output", "subfolder": ""},
        timeout=10,
    )
    assert original.status_code == 200 and prompt.encode() in original.content
    # Same pixels, fewer bytes: only the text chunks went.
    with Image.open(io.BytesIO(original.content)) as a, Image.open(io.BytesIO(stored)) as b:
        assert a.tobytes() == b.tobytes()
    assert not any(prompt.encode() in data for data in media.every_stored_file())


# -- previews -----------------------------------------------------------------------------


def _watch_sse(media: Media, job_id: str) -> list[dict[str, Any]]:
    events = []
    with requests.get(
        f"{media.url}/jobs/{job_id}/events", headers=USER, stream=True, timeout=DEADLINE_S
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(b"data: "):
                events.append(json.loads(line[len(b"data: ") :]))
    return events


def _watch_grpc(media: Media, job_id: str) -> list[dict[str, Any]]:
    events = []
    for event in media.jobs.WatchJob(
        jobs_pb2.WatchJobRequest(job_id=job_id), metadata=(("x-api-key", USER_KEY),)
    ):
        item: dict[str, Any] = {"type": event.type, "status": event.status, "step": event.step}
        if event.HasField("preview"):
            item["preview"] = {
                "contentType": event.preview.content_type,
                "data": base64.b64encode(event.preview.data).decode(),
            }
        events.append(item)
    return events


def _previews_seen(media: Media, watch: Any) -> list[dict[str, Any]]:
    """Preview events of a job watched from while it was still queued.

    A blocker job goes first so the watched one waits in the queue; previews are live
    only (never replayed), so a stream whose snapshot shows the job already running
    proves nothing and the attempt is repeated with new jobs.
    """
    for _ in range(5):
        media.submit(_body(f"blocker-{uuid.uuid4().hex}", steps=40))
        job_id = media.submit(_body(f"wren-{uuid.uuid4().hex}", steps=12, previews=True))
        events = watch(media, job_id)
        assert events[-1]["type"] == "terminal" and events[-1]["status"] == "succeeded"
        if events[0]["status"] == "queued":
            return [event for event in events if event["type"] == "preview"]
    raise AssertionError("the watched job never waited in the queue")


@pytest.mark.parametrize("watch", [_watch_sse, _watch_grpc], ids=["sse", "grpc"])
def test_previews_arrive_as_decodable_frames(media: Media, watch: Any) -> None:
    previews = _previews_seen(media, watch)
    assert previews, "no preview event"
    for event in previews:
        assert event["preview"]["contentType"] == "image/jpeg"
        data = base64.b64decode(event["preview"]["data"])
        width, height = _decodes(data)
        assert 0 < width <= 256 and 0 < height <= 256
        assert len(data) <= 24 * 1024
    if watch is _watch_sse:
        assert all(1 <= event["step"] <= 12 for event in previews)


def test_no_previews_unless_asked(media: Media) -> None:
    job_id = media.submit(_body(f"finch-{uuid.uuid4().hex}"))
    assert not [event for event in _watch_sse(media, job_id) if event["type"] == "preview"]


# -- deletion and retention ---------------------------------------------------------------


def _cached_pair(media: Media) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished job and a cache hit of it (sharing its files)."""
    body = _body(f"otter-{uuid.uuid4().hex}")
    body["inputs"]["seed"] = 1234
    first = media.run(body)
    # The entry is written right after the success commits: a poller can be quicker.
    deadline = time.monotonic() + DEADLINE_S
    while not media.has_cache_entry(first["jobId"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    hit = media.post(body)
    assert hit.status_code == 200 and hit.json()["status"] == "cache_hit", hit.text
    second = media.wait(hit.json()["jobId"])
    assert second["outputs"][0]["storagePath"] == first["outputs"][0]["storagePath"]
    return first, second


def test_delete_removes_rows_and_files_but_not_shared_ones(media: Media) -> None:
    first, second = _cached_pair(media)
    path = first["outputs"][0]["storagePath"]

    other = requests.delete(f"{media.url}/jobs/{first['jobId']}", headers=OTHER, timeout=10)
    assert other.status_code == 404, other.text

    gone = requests.delete(f"{media.url}/jobs/{first['jobId']}", headers=USER, timeout=10)
    assert gone.status_code == 204 and gone.content == b""
    assert (
        requests.get(f"{media.url}/jobs/{first['jobId']}", headers=USER, timeout=10).status_code
        == 404
    )
    assert media.stored_exists(path)  # the cache hit still serves it
    kept = requests.get(f"{media.url}{second['outputs'][0]['url']}", headers=USER, timeout=10)
    assert kept.status_code == 200 and kept.content == media.stored_bytes(path)

    # An admin deletes the last job using the file (over gRPC): the file goes.
    media.jobs.DeleteJob(
        jobs_pb2.DeleteJobRequest(job_id=second["jobId"]), metadata=(("x-api-key", ADMIN_KEY),)
    )
    assert not media.stored_exists(path)
    assert (
        requests.get(f"{media.url}/outputs/{second['jobId']}", headers=USER, timeout=10).status_code
        == 404
    )

    audit = requests.get(f"{media.url}/audit", headers=ADMIN, timeout=10)
    assert audit.status_code == 200, audit.text
    assert first["jobId"] in audit.text and "job.delete" in audit.text


def test_delete_of_an_unfinished_job_is_409(media: Media) -> None:
    job_id = media.submit(_body(f"mole-{uuid.uuid4().hex}", steps=150))
    response = requests.delete(f"{media.url}/jobs/{job_id}", headers=USER, timeout=10)
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "CONFLICT"
    requests.post(f"{media.url}/jobs/{job_id}/cancel", json={}, headers=USER, timeout=10)
    assert media.wait(job_id)["status"] == "cancelled"
    gone = requests.delete(f"{media.url}/jobs/{job_id}", headers=USER, timeout=10)
    assert gone.status_code == 204, gone.text


def _wait_gone(media: Media, job_id: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        status = requests.get(f"{media.url}/jobs/{job_id}", headers=ADMIN, timeout=10).status_code
        if status == 404:
            return
        time.sleep(0.2)
    raise AssertionError(f"retention did not remove job {job_id}")


def test_retention_removes_old_jobs_and_keeps_files_used_elsewhere(media: Media) -> None:
    first, second = _cached_pair(media)
    path = first["outputs"][0]["storagePath"]
    media.age(first["jobId"], days=3)
    _wait_gone(media, first["jobId"])
    assert media.stored_exists(path)
    assert (
        requests.get(f"{media.url}/jobs/{second['jobId']}", headers=USER, timeout=10).status_code
        == 200
    )

    media.age(second["jobId"], days=3)
    _wait_gone(media, second["jobId"])
    assert not media.stored_exists(path)


def test_retention_removes_inputs_no_job_references_any_more(media: Media) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), (uuid.uuid4().int % 256, 90, 30)).save(picture, "PNG")
    data = picture.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    image = base64.b64encode(data).decode()
    jobs = [
        media.run(
            {
                "workflowId": "img2img_v1",
                "inputs": {"prompt": f"tapir-{uuid.uuid4().hex}", "image": image, "steps": 2},
            }
        )
        for _ in range(2)
    ]
    path = media.input_path(sha256)
    assert media.stored_exists(path)
    media.age_input(sha256, days=3)

    media.age(jobs[0]["jobId"], days=3)
    _wait_gone(media, jobs[0]["jobId"])
    assert media.stored_exists(path)  # the second job still references it

    media.age(jobs[1]["jobId"], days=3)
    _wait_gone(media, jobs[1]["jobId"])
    deadline = time.monotonic() + DEADLINE_S
    while media.stored_exists(path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not media.stored_exists(path)
