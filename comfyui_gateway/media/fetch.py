"""Fetching a media input at submission: bounded in size and time, address-checked.

URLs follow the callbacks' address policy (``webhooks.policy``): the host must match
``INPUT_ALLOWED_DOMAINS`` (``*`` = any public host); names are resolved and loopback,
private, link-local (cloud metadata) and reserved addresses refused unless the host
is listed exactly. Redirects are followed by hand, at most ``MAX_REDIRECTS``, and
every hop is checked again the same way. The body is read in chunks and dropped as
soon as it passes ``MAX_INPUT_BYTES``.

``s3://bucket/key`` objects are read with the gateway's own S3 settings (endpoint and
credentials), also bounded. Error messages name the host at most, never a URL's path
or query string (they may carry signatures or tokens).

aiohttp loads with the first URL fetched, the S3 SDK with the first ``s3://`` input: a
gateway whose clients send neither keeps both out of its memory (the server process
otherwise needs neither; the ``memory`` bench).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from comfyui_gateway.media.references import MediaProblem
from comfyui_gateway.webhooks.policy import (
    explicitly_listed,
    forbidden_address,
    host_allowed,
    is_metadata_host,
)

if TYPE_CHECKING:  # loaded on first use (module docstring)
    import aiohttp
    from minio import Minio

    from comfyui_gateway.webhooks.sender import BlockedAddress

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
USER_AGENT = "comfyui-gateway-input/1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str


class MediaFetcher:
    """One HTTP session (and one S3 client, made on first use) for the process.

    Usage::

        fetcher = MediaFetcher(max_bytes=..., patterns=[...], timeout_s=15, s3=factory)
        fetched = await fetcher.fetch_url("https://example.com/a.png")
        await fetcher.close()
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        patterns: Sequence[str],
        timeout_s: float,
        s3: Callable[[], Minio] | None = None,
    ) -> None:
        self._max_bytes = max_bytes
        self._patterns = list(patterns)
        self._timeout_s = timeout_s
        self._s3_factory = s3
        self._s3: Minio | None = None
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- http(s) -----------------------------------------------------------------------

    async def fetch_url(self, url: str) -> Fetched:
        """GET ``url`` (redirects re-checked); MediaProblem for anything refused or failed."""
        try:
            return await asyncio.wait_for(self._follow(url), self._timeout_s)
        except TimeoutError:
            raise MediaProblem(f"could not be fetched within {self._timeout_s:g} s") from None

    async def _follow(self, url: str) -> Fetched:
        import aiohttp

        from comfyui_gateway.webhooks.sender import BlockedAddress

        session = self._http()
        for _ in range(MAX_REDIRECTS + 1):
            host = self._check_hop(url)
            try:
                async with session.get(
                    url, allow_redirects=False, headers={"User-Agent": USER_AGENT}
                ) as response:
                    if response.status in REDIRECT_STATUSES and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status != 200:
                        raise MediaProblem(
                            f"could not be fetched from {host}: HTTP {response.status}"
                        )
                    return await self._read(response)
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, BlockedAddress):
                    raise MediaProblem(
                        f"host {host} is not allowed: {_blocked_reason(exc.os_error)}"
                    ) from None
                raise MediaProblem(f"could not be fetched: cannot connect to {host}") from None
            except aiohttp.ClientError as exc:
                raise MediaProblem(
                    f"could not be fetched from {host} ({type(exc).__name__})"
                ) from None
        raise MediaProblem(f"could not be fetched: more than {MAX_REDIRECTS} redirects")

    def _check_hop(self, url: str) -> str:
        """The checks that need no DNS (the resolver does the rest); returns the host."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".").lower()
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise MediaProblem("is not a valid URL") from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise MediaProblem("URLs must be http(s) with a host (redirects too)")
        if not host_allowed(host, self._patterns):
            raise MediaProblem(f'host "{host}" is not in INPUT_ALLOWED_DOMAINS')
        if explicitly_listed(host, self._patterns):
            return host
        if is_metadata_host(host):
            raise MediaProblem(f"host {host} is not allowed: cloud metadata host")
        reason = forbidden_address(host.strip("[]"))
        if reason is not None and reason != "not an IP address":
            raise MediaProblem(f"host {host} is not allowed: {reason}")
        return host

    async def _read(self, response: aiohttp.ClientResponse) -> Fetched:
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise self._too_large()
        buffer = io.BytesIO()
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            buffer.write(chunk)
            if buffer.tell() > self._max_bytes:
                raise self._too_large()
        return Fetched(buffer.getvalue(), response.headers.get("Content-Type", ""))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            from comfyui_gateway.webhooks.sender import GuardedResolver

            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._patterns), use_dns_cache=False
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    # -- s3 ----------------------------------------------------------------------------

    async def fetch_s3(self, bucket: str, key: str) -> Fetched:
        """Read ``s3://bucket/key`` with the configured credentials, bounded."""
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._read_s3, bucket, key), self._timeout_s
            )
        except TimeoutError:
            raise MediaProblem(f"S3 object not read within {self._timeout_s:g} s") from None

    def _read_s3(self, bucket: str, key: str) -> Fetched:
        # Here, not at the top: a process that never reads S3 does not load the SDK.
        from minio.error import MinioException, S3Error

        client = self._s3_client()
        try:
            stat = client.stat_object(bucket, key)
            if stat.size is not None and stat.size > self._max_bytes:
                raise self._too_large()
            response = client.get_object(bucket, key)
            try:
                data = response.read(self._max_bytes + 1)
            finally:
                response.close()
                response.release_conn()
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"):
                raise MediaProblem(f"no such S3 object in bucket {bucket}") from None
            raise MediaProblem(f"S3 refused the read ({exc.code})") from None
        except (MinioException, OSError, ValueError):
            raise MediaProblem("S3 object could not be read") from None
        if len(data) > self._max_bytes:
            raise self._too_large()
        return Fetched(data, stat.content_type or "")

    def _s3_client(self) -> Minio:
        if self._s3 is None:
            if self._s3_factory is None:
                raise MediaProblem("s3:// inputs are not configured on this gateway")
            self._s3 = self._s3_factory()
        return self._s3

    def _too_large(self) -> MediaProblem:
        return MediaProblem(f"is larger than MAX_INPUT_BYTES ({self._max_bytes} bytes)")


def _blocked_reason(error: BlockedAddress) -> str:
    text = str(error.strerror or "")
    return text.split(": ", 1)[-1] if ": " in text else "address not allowed"
