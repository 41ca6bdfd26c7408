"""Names inside the store: what is accepted can never leave the job's folder."""

from __future__ import annotations

import os
import posixpath
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.storage import (
    new_stored_name,
    object_key,
    validate_job_id,
    validate_stored_name,
)
from comfyui_gateway.storage.names import shown_storage_path


@pytest.mark.parametrize(
    "name",
    ["a.png", "ComfyUI_00001_.png", f"{uuid.uuid4()}.webp", "x", "a..b.png", "A-b_c.9", "a" * 255],
)
def test_plain_names_are_accepted(name: str) -> None:
    assert validate_stored_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("..", "'.'"),
        (".", "'.'"),
        (".meta", "'.'"),
        ("../x", "single file name"),
        ("a/b", "single file name"),
        ("a\\b", "single file name"),
        ("/etc/passwd", "single file name"),
        ("C:\\Windows", "single file name"),
        ("x\x00.png", "NUL"),
        ("a" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),
        ("x%2F..%2Fetc", "may only contain"),
        ("%2e%2e", "may only contain"),
        ("a b.png", "may only contain"),
        ("é.png", "may only contain"),
        ("-rf", "may only contain"),
        ("a.png\n", "may only contain"),
    ],
)
def test_dangerous_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        validate_stored_name(name)
    assert caught.value.details == [{"field": "filename", "message": caught.value.message[10:]}]


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "job_1", "A" * 64, "-", "_"])
def test_our_job_ids_are_accepted(job_id: str) -> None:
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", ".", "..", "a/b", "../a", "a.b", "A" * 65, "a b", "é"])
def test_other_job_ids_are_refused(job_id: str) -> None:
    with pytest.raises(ValidationError, match="jobId"):
        validate_job_id(job_id)


@given(st.text(max_size=300))
def test_any_accepted_name_stays_inside_its_folder(name: str) -> None:
    try:
        validate_stored_name(name)
    except ValidationError:
        return
    joined = posixpath.normpath(posixpath.join("/root/job", name))
    assert posixpath.dirname(joined) == "/root/job"
    assert os.path.basename(joined) == name


@given(st.text(max_size=80))
def test_any_accepted_job_id_is_one_folder(job_id: str) -> None:
    try:
        validate_job_id(job_id)
    except ValidationError:
        return
    assert posixpath.dirname(posixpath.normpath(posixpath.join("/root", job_id))) == "/root"


def test_object_key_checks_both_parts() -> None:
    assert object_key("job-1", "a.png") == "job-1/a.png"
    with pytest.raises(ValidationError):
        object_key("job-1", "../a.png")
    with pytest.raises(ValidationError):
        object_key("../job", "a.png")


@pytest.mark.parametrize(
    ("original", "content_type", "extension"),
    [
        ("ComfyUI_00001_.png", "image/png", "png"),
        ("photo.JPEG", "image/jpeg", "jpeg"),
        ("clip.webm", "video/webm", "webm"),
        ("no_extension", "image/webp", "webp"),
        ("no_extension", "image/jpeg", "jpg"),
        ("song", "audio/x-wav", "wav"),
        ("page.html", "text/html", "png"),  # not an output format we serve: no .html
        ("../../etc/passwd", "application/octet-stream", "png"),
        ("evil.php", "image/gif", "gif"),
        ("", "", "png"),
    ],
)
def test_new_stored_name_extension(original: str, content_type: str, extension: str) -> None:
    name = new_stored_name(original, content_type)
    stem, ext = name.rsplit(".", 1)
    assert ext == extension
    assert uuid.UUID(stem).version == 4


@given(st.text(max_size=300), st.text(max_size=100))
def test_new_stored_names_are_always_valid_and_unique(original: str, content_type: str) -> None:
    first = new_stored_name(original, content_type)
    assert validate_stored_name(first) == first
    assert new_stored_name(original, content_type) != first


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("/data/outputs/1b2c/u.png", "1b2c/u.png"),
        ("/srv/gw/data/outputs/job-1/a.webp", "job-1/a.webp"),
        ("s3://bucket/job-1/a.png", "job-1/a.png"),
        ("job-1/a.png", "job-1/a.png"),
        ("C:\\gw\\outputs\\job-1\\a.png", "job-1/a.png"),
    ],
)
def test_clients_see_the_key_not_the_servers_path(stored: str, shown: str) -> None:
    assert shown_storage_path(stored) == shown
