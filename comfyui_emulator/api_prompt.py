"""Routes that queue and control prompts: /prompt, /queue, /interrupt, /history, /free."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web

from comfyui_emulator.state import State

log = logging.getLogger("comfyui_emulator")
STATE = web.AppKey("state", State)

SERVER_ERROR = "500 Internal Server Error\n\nServer got itself in trouble"


async def _json(request: web.Request) -> Any:
    """The body as JSON, or None when it is not JSON (ComfyUI then fails with a 500)."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _server_error() -> web.Response:
    return web.Response(status=500, text=SERVER_ERROR, content_type="text/plain")


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].queue_info())


async def post_prompt(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json(request)
    if not isinstance(body, dict):
        return _server_error()
    if "number" in body:
        number: float = float(body["number"])
    else:
        number = -state.number if body.get("front") else state.number
        state.number += 1
    if "prompt" not in body:
        error = {
            "type": "no_prompt",
            "message": "No prompt provided",
            "details": "No prompt provided",
            "extra_info": {},
        }
        return web.json_response({"error": error, "node_errors": {}}, status=400)
    prompt = body["prompt"]
    if not isinstance(prompt, dict):
        return _server_error()
    prompt_id = str(body.get("prompt_id", uuid.uuid4()))
    targets = body.get("partial_execution_targets")
    result = state.validator.validate(prompt, targets if isinstance(targets, list) else None)
    extra: dict[str, Any] = (
        body.get("extra_data", {}) if isinstance(body.get("extra_data"), dict) else {}
    )
    if "client_id" in body:
        extra["client_id"] = body["client_id"]
    if not result.ok:
        log.warning("invalid prompt: %s", result.error)
        return web.json_response(
            {"error": result.error, "node_errors": result.node_errors}, status=400
        )
    # The queue shows the outputs in prompt order; ComfyUI's own order comes from a set.
    outputs = [node_id for node_id in prompt if node_id in result.outputs]
    state.queue.put([number, prompt_id, prompt, extra, outputs])
    return web.json_response(
        {"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors}
    )


async def get_queue(request: web.Request) -> web.Response:
    queue = request.app[STATE].queue
    return web.json_response(
        {"queue_running": list(queue.running.values()), "queue_pending": queue.pending}
    )


async def post_queue(request: web.Request) -> web.Response:
    body = await _json(request)
    queue = request.app[STATE].queue
    if body is None:
        return _server_error()
    if isinstance(body, dict):
        if body.get("clear"):
            queue.clear()
        if isinstance(body.get("delete"), list):
            queue.delete(body["delete"])
    return web.Response(status=200)


async def post_interrupt(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json(request)
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    if prompt_id:
        if prompt_id in state.queue.running:
            log.info("Interrupting prompt %s", prompt_id)
            state.executor.interrupt()
        else:
            log.info("Prompt %s is not currently running, skipping interrupt", prompt_id)
    else:
        log.info("Global interrupt (no prompt_id specified)")
        state.executor.interrupt()
    return web.Response(status=200)


async def get_history(request: web.Request) -> web.Response:
    query = request.rel_url.query
    max_items = int(query["max_items"]) if "max_items" in query else None
    offset = int(query.get("offset", -1))
    return web.json_response(request.app[STATE].queue.history_page(max_items, offset))


async def get_history_item(request: web.Request) -> web.Response:
    prompt_id = request.match_info["prompt_id"]
    history = request.app[STATE].queue.history
    return web.json_response({prompt_id: history[prompt_id]} if prompt_id in history else {})


async def post_history(request: web.Request) -> web.Response:
    body = await _json(request)
    history = request.app[STATE].queue.history
    if body is None:
        return _server_error()
    if isinstance(body, dict):
        if body.get("clear"):
            history.clear()
        for prompt_id in body.get("delete", []) if isinstance(body.get("delete"), list) else []:
            history.pop(str(prompt_id), None)
    return web.Response(status=200)


async def post_free(request: web.Request) -> web.Response:
    body = await _json(request)
    if body is None:
        return _server_error()
    if isinstance(body, dict):
        request.app[STATE].executor.free(
            bool(body.get("unload_models", False)), bool(body.get("free_memory", False))
        )
    return web.Response(status=200)


def add_routes(routes: web.RouteTableDef, prefix: str) -> None:
    routes.get(f"{prefix}/prompt")(get_prompt)
    routes.post(f"{prefix}/prompt")(post_prompt)
    routes.get(f"{prefix}/queue")(get_queue)
    routes.post(f"{prefix}/queue")(post_queue)
    routes.post(f"{prefix}/interrupt")(post_interrupt)
    routes.get(f"{prefix}/history")(get_history)
    routes.get(f"{prefix}/history/{{prompt_id}}")(get_history_item)
    routes.post(f"{prefix}/history")(post_history)
    routes.post(f"{prefix}/free")(post_free)
