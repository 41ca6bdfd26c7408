"""The baseline a user has without the gateway: ComfyUI's own protocol, spoken raw.

One WebSocket ``/ws?clientId=`` kept open for the session (as ComfyUI's own API
example does), ``POST /prompt`` with that client id, messages read until ``executing``
with ``node: null`` (or ``execution_success``) for the prompt, then ``GET /view`` of
every image the ``executed`` messages named. No gateway code is involved.
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

import aiohttp


class DirectComfyUI:
    """A raw ComfyUI session: see the module docstring."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> DirectComfyUI:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"{self.base_url}/ws?clientId={self.client_id}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def run(self, graph: dict[str, Any]) -> list[bytes]:
        """Submit ``graph``, follow it to the end, and return every output image's bytes."""
        assert self._session is not None and self._ws is not None
        body = {"prompt": graph, "client_id": self.client_id}
        async with self._session.post(f"{self.base_url}/prompt", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"POST /prompt: {response.status} {await response.text()}")
            prompt_id = (await response.json())["prompt_id"]
        images = await self._follow(prompt_id)
        return [await self._view(image) for image in images]

    async def _follow(self, prompt_id: str) -> list[dict[str, str]]:
        assert self._ws is not None
        images: list[dict[str, str]] = []
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue  # binary frames are previews
            event = json.loads(message.data)
            data = event.get("data", {})
            if data.get("prompt_id") != prompt_id:
                continue
            kind = event["type"]
            if kind == "executed":
                images += data.get("output", {}).get("images", [])
            elif kind == "execution_error":
                raise RuntimeError(f"prompt failed: {data}")
            elif kind == "execution_success" or (kind == "executing" and data["node"] is None):
                return images
        raise RuntimeError("the WebSocket closed before the prompt finished")

    async def _view(self, image: dict[str, str]) -> bytes:
        assert self._session is not None
        params = {
            "filename": image["filename"],
            "subfolder": image.get("subfolder", ""),
            "type": image.get("type", "output"),
        }
        async with self._session.get(f"{self.base_url}/view", params=params) as response:
            response.raise_for_status()
            return await response.read()
