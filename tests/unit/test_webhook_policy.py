"""Callback allowlist at job creation and the address rules at delivery time."""

from __future__ import annotations

import pytest

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.webhooks.policy import (
    callback_host,
    check_callback_reachable,
    check_callback_url,
    explicitly_listed,
    forbidden_address,
    host_allowed,
)


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("anything.example", ["*"], True),
        ("n8n.your-domain.com", ["your-app.com", "n8n.your-domain.com"], True),
        ("N8N.Your-Domain.com.", ["n8n.your-domain.com"], True),
        ("evil.com", ["your-app.com"], False),
        ("api.internal.company.com", ["*.internal.company.com"], True),
        ("internal.company.com", ["*.internal.company.com"], True),
        ("notinternal.company.com", ["*.internal.company.com"], False),
        ("company.com.evil.io", ["*.company.com"], False),
        ("example.com", [], False),
    ],
)
def test_allowlist_patterns(host: str, patterns: list[str], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed


def test_refusal_uses_the_descriptions_message() -> None:
    with pytest.raises(ValidationError) as caught:
        check_callback_url("https://example.com/hook", ["your-app.com"])
    assert (
        caught.value.message == 'Callback domain "example.com" is not in the allowed domains list'
    )
    assert caught.value.to_body()["error"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "https://", "x"]
)
def test_only_http_and_https_callbacks(url: str) -> None:
    with pytest.raises(ValidationError):
        check_callback_url(url, ["*"])


def test_host_is_taken_from_the_url_not_its_credentials() -> None:
    assert callback_host("https://allowed.com@evil.com:8443/x?y=1") == "evil.com"
    with pytest.raises(ValidationError):
        check_callback_url("https://allowed.com@evil.com/x", ["allowed.com"])


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("172.16.0.9", True),
        ("192.168.1.50", True),
        ("169.254.169.254", True),  # cloud metadata
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_private_loopback_and_link_local_are_refused(address: str, refused: bool) -> None:
    assert (forbidden_address(address) is not None) is refused


def test_only_an_exact_entry_opens_a_private_host() -> None:
    assert explicitly_listed("127.0.0.1", ["127.0.0.1"])
    assert not explicitly_listed("127.0.0.1", ["*"])
    assert not explicitly_listed("hooks.internal", ["*.internal"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0/x",
    ],
)
def test_undeliverable_literal_hosts_are_refused_at_creation_naming_the_setting(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_callback_url(url, ["*"])
    assert "WEBHOOK_ALLOWED_DOMAINS" in caught.value.message
    assert caught.value.details == [{"field": "callbackUrl", "message": "host refused"}]


def test_an_exact_entry_lets_a_private_literal_through() -> None:
    assert check_callback_url("http://127.0.0.1:9/hook", ["*", "127.0.0.1"]) == "127.0.0.1"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a b",
        "http://example.com/\tx",
        "http://exa\nmple.com/",
        "http://example.com/\x00",
        "http://example.com/\u2028",
        "\x01http://example.com/",
        "http://example.com/" + "a" * 2100,
    ],
)
def test_whitespace_control_characters_and_huge_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_callback_url(url, ["*"])
    assert "callbackUrl" in caught.value.message
    assert url[19:] not in caught.value.message or len(url) < 25


async def test_a_name_resolving_only_to_loopback_is_refused_without_saying_where() -> None:
    with pytest.raises(ValidationError) as caught:
        await check_callback_reachable("http://localhost:9/hook", ["*"])
    message = caught.value.message
    assert "localhost" in message and "WEBHOOK_ALLOWED_DOMAINS" in message
    assert "127.0.0.1" not in message and "::1" not in message


async def test_listed_names_and_unresolvable_names_pass_creation() -> None:
    await check_callback_reachable("http://localhost:9/hook", ["*", "localhost"])
    await check_callback_reachable("https://no-such-host.invalid/hook", ["*"])
