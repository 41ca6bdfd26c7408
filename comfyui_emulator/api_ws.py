"""``GET /ws``: the first status frame, the feature-flag handshake, reconnects."""

from __future__ import annotations

import json
import logging
import uuid

from aiohttp import WSMsgType, web

from comfyui_emulator.api_prompt import STATE
from comfyui_emulator.hub import SERVER_FEATURES

log = logging.getLogger("comfyui_emulator")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
    state.hub.register(sid, ws, request)
    try:
        state.hub.send("status", {"status": state.queue_info(), "sid": sid}, sid)
        # A client reconnecting while its prompt runs learns which node is executing.
        if state.executor.client_id == sid and state.executor.last_node_id is not None:
            state.hub.send("executing", {"node": state.executor.last_node_id}, sid)
        first = True
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                log.warning("ws connection closed with exception %s", ws.exception())
            elif message.type is WSMsgType.TEXT:
                try:
                    data = json.loads(message.data)
                except json.JSONDecodeError:
                    log.warning("invalid json on websocket from %s", sid)
                    continue
                if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                    flags = data.get("data", {})
                    state.hub.flags[sid] = flags if isinstance(flags, dict) else {}
                    state.hub.send("feature_flags", SERVER_FEATURES, sid)
                first = False
    finally:
        state.hub.unregister(sid, ws)
    return ws


def add_routes(routes: web.RouteTableDef, prefix: str) -> None:
    routes.get(f"{prefix}/ws")(websocket)
