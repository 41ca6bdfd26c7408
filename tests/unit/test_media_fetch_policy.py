"""URL inputs follow the callbacks' address policy; these checks need no network."""

from __future__ import annotations

import pytest

from comfyui_gateway.media.fetch import MediaFetcher
from comfyui_gateway.media.references import MediaProblem


def fetcher(*patterns: str) -> MediaFetcher:
    return MediaFetcher(max_bytes=1024, patterns=list(patterns) or ["*"], timeout_s=1)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/a.png", "loopback"),
        ("http://[::1]/a.png", "loopback"),
        ("http://10.1.2.3/a.png", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://metadata.google.internal/x", "metadata"),
        ("ftp://example.com/a.png", "http"),
        ("http://exa mple.com:99999/a.png", "valid URL"),
    ],
)
def test_forbidden_hops_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(MediaProblem, match=message):
        fetcher()._check_hop(url)


def test_the_allowlist_and_exact_entries() -> None:
    assert fetcher()._check_hop("https://Example.com/a.png?token=secret") == "example.com"
    with pytest.raises(MediaProblem, match="INPUT_ALLOWED_DOMAINS"):
        fetcher("*.example.com")._check_hop("https://example.org/a.png")
    assert fetcher("127.0.0.1")._check_hop("http://127.0.0.1:8000/a.png") == "127.0.0.1"


def test_messages_never_carry_the_query_string() -> None:
    with pytest.raises(MediaProblem) as caught:
        fetcher("*.example.com")._check_hop("https://evil.org/a.png?X-Amz-Signature=abc")
    assert "Signature" not in str(caught.value)
