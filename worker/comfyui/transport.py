"""HTTP to one ComfyUI: one ``aiohttp.ClientSession``, timeouts, error translation.

This is the boundary where aiohttp and asyncio exceptions become ComfyUIUnreachable
(``raise ... from exc``); nothing past it sees a foreign exception. ``details["delivered"]``
says whether the request may have reached ComfyUI: False for refused connections and
502/503/504, which is what makes a retry of ``POST /prompt`` safe.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from opentelemetry.trace import SpanKind

from comfyui_gateway.errors import ComfyUIUnreachable
from comfyui_gateway.tracing import child_span, inject_headers, mark_error
from worker.comfyui.config import ClientConfig

NOT_DELIVERED_STATUSES = frozenset({502, 503, 504})


def unreachable(
    url: str, reason: str, *, delivered: bool, status: int | None = None
) -> ComfyUIUnreachable:
    details: dict[str, Any] = {"url": url, "reason": reason, "delivered": delivered}
    if status is not None:
        details["status"] = status
    return ComfyUIUnreachable(f"ComfyUI at {url} is not reachable: {reason}", details=details)


def was_delivered(error: ComfyUIUnreachable) -> bool:
    return not (isinstance(error.details, dict) and error.details.get("delivered") is False)


class Transport:
    """The session and the request helpers; ``start()`` creates it, ``close()`` ends it."""

    def __init__(self, base_url: str, config: ClientConfig) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("ComfyUIClient is not started; use 'async with' or start()")
        return self._session

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.config.request_timeout_s, connect=self.config.connect_timeout_s
            )
            self._session = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def ws_url(self, client_id: str) -> str:
        base = self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}/ws?clientId={client_id}"

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        read_timeout: aiohttp.ClientTimeout | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A response whose status is below 500; connection trouble and 5xx raise."""
        url = self.url(path)
        attributes = {"http.request.method": method, "url.full": url, "url.path": path}
        route = "/" + path.lstrip("/").split("/", 1)[0].split("?", 1)[0]  # low-cardinality name
        with child_span(f"comfyui {method} {route}", attributes, SpanKind.CLIENT) as span:
            try:
                async with self._send(method, url, read_timeout, kwargs) as response:
                    if span is not None:
                        span.set_attribute("http.response.status_code", response.status)
                    yield response
            except ComfyUIUnreachable as error:
                if span is not None:
                    mark_error(error.code.value, error.message, span)
                raise

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        url: str,
        read_timeout: aiohttp.ClientTimeout | None,
        kwargs: dict[str, Any],
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        headers = inject_headers(kwargs.pop("headers", None))
        try:
            async with self.session.request(
                method, url, timeout=read_timeout, headers=headers, **kwargs
            ) as response:
                if response.status >= 500:
                    raise unreachable(
                        url,
                        f"HTTP {response.status}",
                        delivered=response.status not in NOT_DELIVERED_STATUSES,
                        status=response.status,
                    )
                yield response
        except aiohttp.ClientConnectorError as exc:
            raise unreachable(url, str(exc) or type(exc).__name__, delivered=False) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(url, str(exc) or type(exc).__name__, delivered=True) from exc

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with self.request("GET", path, params=params) as response:
            return await self._json(response)

    async def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        """POST JSON; returns the status and the JSON answer (None when the body is empty)."""
        async with self.request("POST", path, json=body) as response:
            return response.status, await self._json(response)

    async def post_form(self, path: str, form: aiohttp.FormData) -> tuple[int, Any]:
        """POST multipart form data; returns the status and the JSON answer, if any."""
        async with self.request("POST", path, data=form) as response:
            return response.status, await self._json(response)

    async def _json(self, response: aiohttp.ClientResponse) -> Any:
        try:
            text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable(str(response.url), str(exc), delivered=True) from exc
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise unreachable(
                str(response.url), f"answer is not JSON (HTTP {response.status})", delivered=True
            ) from exc
