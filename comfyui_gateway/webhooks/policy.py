"""Where webhooks may go: the allowlist at job creation, address checks at delivery.

``WEBHOOK_ALLOWED_DOMAINS`` holds ``*`` (any host), exact host names (``n8n.example.com``,
``127.0.0.1``) or ``*.suffix`` patterns (``*.example.com`` matches ``a.example.com`` and
``example.com`` itself). It is checked when a job is created, so a bad callback is a
400 the caller sees at once rather than a delivery that silently never happens.

At delivery time the host is resolved and *every* address is checked: loopback,
private, link-local (which includes the cloud metadata address 169.254.169.254),
multicast, reserved and unspecified addresses are refused unless the host is listed
*explicitly* (an exact entry, not ``*`` nor a suffix pattern). The check runs inside
the connection's own resolver, so the address connected to is the address checked
(no DNS-rebinding window).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from comfyui_gateway.errors import ValidationError

ALLOWED_SCHEMES = ("http", "https")
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
"""Names cloud providers resolve to their metadata service."""


def callback_host(url: str) -> str:
    """The lower-case host of a callback URL; ValidationError if it is not http(s)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        raise ValidationError(
            "callbackUrl must be an http or https URL",
            details=[{"field": "callbackUrl", "message": "must be an http(s) URL with a host"}],
        )
    return host.rstrip(".").lower()


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Whether ``host`` matches ``*``, an exact entry or a ``*.suffix`` entry."""
    host = host.rstrip(".").lower()
    for raw in patterns:
        pattern = raw.strip().rstrip(".").lower()
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*."):
            suffix = pattern[2:]
            if host == suffix or host.endswith("." + suffix):
                return True
    return False


def explicitly_listed(host: str, patterns: Sequence[str]) -> bool:
    """Whether ``host`` is named exactly (the only way to allow a private address)."""
    host = host.rstrip(".").lower()
    return any(raw.strip().rstrip(".").lower() == host for raw in patterns)


def check_callback_url(url: str, patterns: Sequence[str]) -> None:
    """Refuse, with the description's message, a callback outside the allowlist."""
    host = callback_host(url)
    if not host_allowed(host, patterns):
        raise ValidationError(
            f'Callback domain "{host}" is not in the allowed domains list',
            details=[{"field": "callbackUrl", "message": "domain not allowed"}],
        )


def forbidden_address(address: str) -> str | None:
    """Why ``address`` must not receive a webhook, or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address (cloud metadata)"
    if ip.is_private:
        return "private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "reserved address"
    return None


def is_metadata_host(host: str) -> bool:
    return host.rstrip(".").lower() in METADATA_HOSTS
