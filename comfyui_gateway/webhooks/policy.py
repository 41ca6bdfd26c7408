"""Where webhooks may go: the allowlist at job creation, address checks at delivery.

``WEBHOOK_ALLOWED_DOMAINS`` holds ``*`` (any host), exact host names (``n8n.example.com``,
``127.0.0.1``) or ``*.suffix`` patterns (``*.example.com`` matches ``a.example.com`` and
``example.com`` itself). It is checked when a job is created, so a bad callback is a
400 the caller sees at once rather than a delivery that silently never happens: also
a URL with whitespace or control characters, a literal address delivery would refuse,
a metadata host name, and a name that resolves only to refused addresses — unless the
host is listed exactly. The refusal says which setting would allow it and never what
a name resolved to.

At delivery time the host is resolved and *every* address is checked: loopback,
private, link-local (which includes the cloud metadata address 169.254.169.254),
multicast, reserved and unspecified addresses are refused unless the host is listed
*explicitly* (an exact entry, not ``*`` nor a suffix pattern). The check runs inside
the connection's own resolver, so the address connected to is the address checked
(no DNS-rebinding window).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from comfyui_gateway.errors import ValidationError

ALLOWED_SCHEMES = ("http", "https")
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
"""Names cloud providers resolve to their metadata service."""
MAX_URL_CHARS = 2048
UNSAFE_CHARACTERS = re.compile(
    r"[\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
"""Whitespace and control characters: URL parsers disagree about them (the classic
way to smuggle a second host past a check), and no callback needs one."""
RESOLVE_TIMEOUT_S = 3.0
ALLOW_HINT = "add the host to WEBHOOK_ALLOWED_DOMAINS to allow it"


def _refused(message: str, rule: str) -> ValidationError:
    return ValidationError(message, details=[{"field": "callbackUrl", "message": rule}])


def callback_host(url: str) -> str:
    """The lower-case host of a callback URL; ValidationError if it is not http(s)."""
    if len(url) > MAX_URL_CHARS:
        raise _refused(
            f"callbackUrl must be at most {MAX_URL_CHARS} characters",
            f"must be at most {MAX_URL_CHARS} characters",
        )
    if UNSAFE_CHARACTERS.search(url):
        raise _refused(
            "callbackUrl must not contain whitespace or control characters",
            "must not contain whitespace or control characters",
        )
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


def check_callback_url(url: str, patterns: Sequence[str]) -> str:
    """Refuse, with the description's message, a callback outside the allowlist, and one
    whose host delivery would refuse without looking anything up; return the host."""
    host = callback_host(url)
    if not host_allowed(host, patterns):
        raise ValidationError(
            f'Callback domain "{host}" is not in the allowed domains list',
            details=[{"field": "callbackUrl", "message": "domain not allowed"}],
        )
    if explicitly_listed(host, patterns):
        return host
    if is_metadata_host(host):
        raise _refused(
            f'Callback host "{host}" is a cloud metadata host; {ALLOW_HINT}', "host refused"
        )
    reason = forbidden_address(host.strip("[]"))
    if reason is not None and reason != "not an IP address":
        raise _refused(f'Callback host "{host}" is a {reason}; {ALLOW_HINT}', "host refused")
    return host


async def check_callback_reachable(url: str, patterns: Sequence[str]) -> None:
    """``check_callback_url``, then refuse a name whose every address delivery would
    refuse. A name that does not resolve now is let through (DNS may be down briefly;
    delivery checks again, and retries)."""
    host = check_callback_url(url, patterns)
    if explicitly_listed(host, patterns) or _is_ip_literal(host):
        return
    addresses = await _resolve(host)
    if addresses and all(forbidden_address(address) for address in addresses):
        raise _refused(
            f'Callback host "{host}" resolves only to loopback, private or reserved '
            f"addresses; {ALLOW_HINT}",
            "host refused",
        )


async def _resolve(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


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
