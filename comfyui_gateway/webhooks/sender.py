"""One webhook POST: signed, bounded in time, never to a forbidden address.

Usage::

    sender = WebhookSender(secret, settings.WEBHOOK_ALLOWED_DOMAINS)
    await sender.start()
    result = await sender.send(url, body)   # SendResult(status_code, error, permanent)
    await sender.close()

Redirects are not followed (a 3xx could point anywhere, including inside the network)
and count as a failed attempt.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from comfyui_gateway.errors import ValidationError
from comfyui_gateway.webhooks.policy import (
    callback_host,
    explicitly_listed,
    forbidden_address,
    host_allowed,
    is_metadata_host,
)
from comfyui_gateway.webhooks.signing import SIGNATURE_HEADER, sign

TIMEOUT_S = 10.0
"""The description's fixed per-attempt timeout."""
USER_AGENT = "comfyui-gateway-webhook/1"
MAX_RESPONSE_BYTES = 64 * 1024


class BlockedAddress(OSError):
    """Raised (inside the connector) when a callback host resolves to a forbidden address."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(errno.EACCES, f"refused to send a webhook to {host}: {reason}")


class GuardedResolver(AbstractResolver):
    """Resolves like the system does, then refuses if *any* address is forbidden.

    The connector connects to exactly the addresses returned here, so what is checked
    is what is used (a DNS answer cannot change between check and connect).
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = list(patterns)
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if explicitly_listed(host, self._patterns):
            return results
        if is_metadata_host(host):
            raise BlockedAddress(host, "cloud metadata host")
        for result in results:
            reason = forbidden_address(result["host"])
            if reason is not None:
                # Not the address itself: job logs must not map internal names.
                raise BlockedAddress(host, f"it resolves to a {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class SendResult:
    """What one attempt got: the HTTP status, or an error; ``permanent`` = do not retry."""

    status_code: int | None
    error: str | None
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.error is None


class WebhookSender:
    """Signs and POSTs bodies; one HTTP session for the process's lifetime."""

    def __init__(self, secret: str, patterns: Sequence[str], *, timeout_s: float = TIMEOUT_S):
        self._secret = secret
        self._patterns = list(patterns)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._patterns), use_dns_cache=False
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout_s)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        return headers

    async def send(self, url: str, body: bytes) -> SendResult:
        assert self._session is not None, "start() the sender first"
        refusal = self._refusal(url)
        if refusal is not None:
            return SendResult(None, refusal, permanent=True)
        try:
            async with self._session.post(
                url, data=body, headers=self.headers(body), allow_redirects=False
            ) as response:
                await response.content.read(MAX_RESPONSE_BYTES)
                if 200 <= response.status < 300:
                    return SendResult(response.status, None)
                return SendResult(response.status, f"HTTP {response.status}")
        except TimeoutError:
            return SendResult(None, f"Webhook POST timed out after {self._timeout_s:g} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                return SendResult(None, str(exc.os_error.strerror), permanent=True)
            return SendResult(None, f"cannot connect: {_reason(exc)}")
        except aiohttp.ClientError as exc:
            return SendResult(None, f"{type(exc).__name__}: {_reason(exc)}")

    def _refusal(self, url: str) -> str | None:
        """Checks that need no DNS: scheme, allowlist, and IP-literal hosts."""
        try:
            host = callback_host(url)
        except ValidationError as exc:
            return exc.message
        if not host_allowed(host, self._patterns):
            return f'Callback domain "{host}" is not in the allowed domains list'
        if explicitly_listed(host, self._patterns):
            return None
        if is_metadata_host(host):
            return f"refused to send a webhook to {host}: cloud metadata host"
        if _is_ip(host):  # aiohttp skips the resolver for literal addresses
            reason = forbidden_address(host)
            if reason is not None:
                return f"refused to send a webhook to {host}: {reason}"
        return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _reason(exc: Any) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."
