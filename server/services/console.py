"""ConsoleService: the web console's files at /ui/, its config and the caller's session.

The files and the config (is auth on?) are open: a browser cannot send credentials
for a page load. The console's own API calls carry the API key or JWT the user signed
in with. Answers carry a strict Content-Security-Policy: nothing loads from elsewhere.
"""

from __future__ import annotations

from typing import Any

from google.api import httpbody_pb2

from comfyui_gateway.auth import Authenticator
from comfyui_gateway.console import ConsoleAssets
from comfyui_gateway.v1 import console_pb2, console_pb2_grpc
from server.call_scope import add_response_header, current_caller
from server.deps import ServerDeps

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class ConsoleService(console_pb2_grpc.ConsoleServiceServicer):
    def __init__(self, deps: ServerDeps, assets: ConsoleAssets | None = None) -> None:
        self._assets = assets or ConsoleAssets()
        self._auth_enabled = Authenticator.from_settings(deps.settings).enabled

    async def GetConsoleAsset(
        self, request: console_pb2.GetConsoleAssetRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        asset = self._assets.get(request.path)
        add_response_header("cache-control", "no-cache")
        add_response_header("x-content-type-options", "nosniff")
        add_response_header("content-security-policy", CONTENT_SECURITY_POLICY)
        return httpbody_pb2.HttpBody(content_type=asset.content_type, data=asset.data)

    async def GetConsoleConfig(
        self, request: console_pb2.GetConsoleConfigRequest, context: Any
    ) -> console_pb2.ConsoleConfig:
        return console_pb2.ConsoleConfig(auth_enabled=self._auth_enabled)

    async def GetConsoleSession(
        self, request: console_pb2.GetConsoleSessionRequest, context: Any
    ) -> console_pb2.ConsoleSession:
        caller = current_caller()
        return console_pb2.ConsoleSession(
            subject=caller.subject, role=caller.role.value, auth_enabled=self._auth_enabled
        )
