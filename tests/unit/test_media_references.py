"""Media values: which forms are accepted, and base64 bounded before it is decoded."""

from __future__ import annotations

import base64

import pytest

from comfyui_gateway.media.references import MediaProblem, RefKind, parse_reference

LIMIT = 1024


def test_each_form_is_recognised() -> None:
    assert parse_reference("https://example.com/a.png?sig=1", LIMIT).kind is RefKind.HTTP
    assert parse_reference("HTTP://example.com/a.png", LIMIT).kind is RefKind.HTTP
    s3 = parse_reference("s3://bucket/some/key.png", LIMIT)
    assert s3.kind is RefKind.S3 and s3.bucket_and_key == ("bucket", "some/key.png")
    upload = parse_reference("upload://up_0123abcd", LIMIT)
    assert upload.kind is RefKind.UPLOAD and upload.target == "up_0123abcd"


def test_base64_standard_urlsafe_whitespace_and_data_urls() -> None:
    data = bytes(range(200))
    plain = base64.b64encode(data).decode()
    assert parse_reference(plain, LIMIT).data == data
    assert parse_reference(base64.urlsafe_b64encode(data).decode().rstrip("="), LIMIT).data == data
    assert parse_reference(plain[:50] + "\n" + plain[50:], LIMIT).data == data
    url = parse_reference(f"data:image/png;base64,{plain}", LIMIT)
    assert url.kind is RefKind.INLINE and url.data == data and url.content_type == "image/png"


@pytest.mark.parametrize(
    "value",
    ["photo.png", "", "s3://bucket", "s3:///key", "upload://", "upload://../x", "data:image/png"],
)
def test_what_is_not_a_reference_is_refused(value: str) -> None:
    with pytest.raises(MediaProblem):
        parse_reference(value, LIMIT)


def test_base64_over_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(MediaProblem, match="MAX_INPUT_BYTES"):
        parse_reference("A" * (LIMIT * 2), LIMIT)
    with pytest.raises(MediaProblem, match="MAX_INPUT_BYTES"):
        parse_reference("data:text/plain," + "a" * (LIMIT + 1), LIMIT)
