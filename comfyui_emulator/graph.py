"""Graph helpers for execution: order, input resolution, cache keys."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def is_link(value: Any) -> bool:
    """``["node_id", slot]`` is a link to another node's output."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def resolve_inputs(node: dict[str, Any], values: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """A node's inputs with links replaced by the linked outputs."""
    return {
        name: values[value[0]][value[1]] if is_link(value) else value
        for name, value in node.get("inputs", {}).items()
    }


def execution_order(
    prompt: dict[str, Any], outputs: list[str], cached: Callable[[str], bool] | None = None
) -> list[str]:
    """Dependencies first, outputs in the order validation returned them.

    As in ComfyUI's ``ExecutionList.add_node``, a dependency whose output is cached is
    not added: only the outputs themselves enter the list whether cached or not.
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for value in prompt[node_id].get("inputs", {}).values():
            if is_link(value) and not (cached is not None and cached(value[0])):
                visit(value[0])
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


def signature(
    prompt: dict[str, Any], node_id: str, memo: dict[str, str], file_stamp: Callable[[str], str]
) -> str:
    """A node's cache key: its class, constants and the keys of what feeds it.

    Node ids are not part of it, so the same work under other ids is still a cache hit,
    as with ComfyUI's input-signature cache. The image loaders add their file's stamp,
    standing in for ComfyUI's ``IS_CHANGED`` file hash.
    """
    if node_id in memo:
        return memo[node_id]
    memo[node_id] = "cycle"
    node = prompt.get(node_id, {})
    parts: dict[str, Any] = {}
    for name, value in sorted(node.get("inputs", {}).items()):
        if is_link(value):
            parts[name] = [signature(prompt, value[0], memo, file_stamp), value[1]]
        else:
            parts[name] = value
    class_type = node.get("class_type")
    if class_type in ("LoadImage", "LoadImageMask"):
        parts["__file__"] = file_stamp(str(node.get("inputs", {}).get("image", "")))
    elif class_type == "SaveImageWebsocket":
        # Its IS_CHANGED returns the time: it never comes from the cache.
        parts["__time__"] = time.time_ns()
    memo[node_id] = json.dumps([node.get("class_type"), parts], sort_keys=True, default=str)
    return memo[node_id]
