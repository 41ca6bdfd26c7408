"""Content types: the same name gives the same type on every host; headers stay clean."""

from __future__ import annotations

import pytest

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.storage import OCTET_STREAM, content_type_for, validate_content_type
from comfyui_gateway.storage.content_types import extension_of, known_extension_for


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a.png", "image/png"),
        ("A.PNG", "image/png"),
        ("a.jpg", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.webp", "image/webp"),
        ("a.gif", "image/gif"),
        ("a.mp4", "video/mp4"),
        ("a.webm", "video/webm"),
        ("a.wav", "audio/wav"),
        ("a.mp3", "audio/mpeg"),
        ("a.flac", "audio/flac"),
        ("a.txt", "text/plain"),
        ("a.json", "application/json"),
        ("folder/sub/a.json", "application/json"),
        ("a.unknownext", OCTET_STREAM),
        ("a.tar.gz", OCTET_STREAM),
        ("noext", OCTET_STREAM),
        (".png", OCTET_STREAM),
        ("", OCTET_STREAM),
    ],
)
def test_content_type_for(filename: str, expected: str) -> None:
    assert content_type_for(filename) == expected


def test_other_formats_fall_back_to_the_standard_table() -> None:
    assert content_type_for("a.pdf") == "application/pdf"


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("IMAGE/JPEG; q=1", "jpg"),
        ("audio/wave", "wav"),
        ("application/x-unknown", None),
    ],
)
def test_known_extension_for(content_type: str, extension: str | None) -> None:
    assert known_extension_for(content_type) == extension


def test_extension_of() -> None:
    assert extension_of("a/b.c/d.PNG") == "png"
    assert extension_of("a\\b.JPG") == "jpg"
    assert extension_of("b.c/noext") == ""


@pytest.mark.parametrize(
    "content_type", ["image/png", "text/plain; charset=utf-8", "application/vnd.api+json"]
)
def test_media_types_are_accepted(content_type: str) -> None:
    assert validate_content_type(content_type) == content_type


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "png",
        "/png",
        "image/",
        "image/png\r\nSet-Cookie: a=b",
        "image/png; a=\x00",
        "image/pngé",
        "image/" + "x" * 300,
    ],
)
def test_malformed_types_are_refused(content_type: str) -> None:
    with pytest.raises(ValidationError):
        validate_content_type(content_type)
