"""Cache keys: SHA-256 of workflow id + canonical inputs + params + checkpoint name.

Canonical means: keys sorted, no whitespace, integral numbers as integers (``7`` and
``7.0`` are the same request, as protobuf ``Struct`` cannot tell them apart), and types
kept apart (``"7"`` is not ``7``). The key is versioned so a future change of recipe
cannot collide with old entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from comfyui_gateway.workflows.inputs import ResolvedInputs
from comfyui_gateway.workflows.values import normalize_numbers

KEY_VERSION = 1
CHECKPOINT_INPUTS = frozenset({"ckpt_name", "unet_name"})
"""Node inputs whose value names the model a graph loads."""


def canonical_json(value: Any) -> str:
    """One byte-exact text per JSON value (sorted keys, integral floats as ints)."""
    return json.dumps(
        normalize_numbers(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def cache_key(
    workflow_id: str,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    checkpoint: str | None,
    *,
    workflow_version: int | None = None,
    output_format: Mapping[str, Any] | None = None,
) -> str:
    """The hex SHA-256 cache key of a request.

    ``inputs`` are the *resolved* inputs (defaults applied), so a request that spells
    out a default and one that omits it share a key. ``workflow_version``, when given,
    keeps an edited workflow from answering with outputs of its previous graph.
    """
    payload = {
        "v": KEY_VERSION,
        "workflowId": workflow_id,
        "inputs": dict(inputs),
        "params": dict(params or {}),
        "checkpoint": checkpoint or "",
    }
    if workflow_version is not None:
        payload["workflowVersion"] = workflow_version
    if output_format:  # absent when unset, so keys of earlier jobs stay valid
        payload["outputFormat"] = dict(output_format)
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def is_cacheable(resolved: ResolvedInputs) -> bool:
    """A request whose seed was drawn at random asked for a new image: never cached
    (neither looked up nor stored under a key)."""
    return not resolved.random_seed


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    """SHA-256 of canonical inputs: lets privacy mode match jobs without keeping prompts."""
    return hashlib.sha256(canonical_json(dict(inputs)).encode("utf-8")).hexdigest()


def checkpoint_names(graph: Mapping[str, Any]) -> str | None:
    """The model file(s) a rendered graph loads, sorted and joined with ``|``; ``None``
    when it loads none. This is the "checkpoint name" part of the cache key."""
    names: set[str] = set()
    for node in graph.values():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if not isinstance(inputs, Mapping):
            continue
        for key, value in inputs.items():
            if key in CHECKPOINT_INPUTS and isinstance(value, str):
                names.add(value)
    return "|".join(sorted(names)) if names else None
