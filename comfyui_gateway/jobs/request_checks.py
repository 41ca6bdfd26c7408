"""The shape of a create-job request, checked before any lookup or work.

Every problem names its field (``workflowId``, ``priority``, ``metadata``); nothing
of the offending value is echoed. Inputs are checked later, against the workflow's
schema (``workflows.inputs``); the callback URL by ``webhooks.policy``.
"""

from __future__ import annotations

import json
from typing import Any

from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.workflows.definition import WORKFLOW_ID_PATTERN
from comfyui_gateway.workflows.problems import Problems

PRIORITIES = ", ".join(p.value for p in JobPriority)


def check_workflow_id(workflow_id: str, problems: Problems) -> None:
    if not workflow_id:
        problems.add("workflowId", "is required")
    elif not WORKFLOW_ID_PATTERN.fullmatch(workflow_id):
        problems.add("workflowId", "must be 1-128 characters of letters, digits, '_', '.', '-'")


def check_priority(priority: str, problems: Problems) -> None:
    if priority and priority.lower() not in {p.value for p in JobPriority}:
        problems.add("priority", f"must be one of {PRIORITIES}")


def check_metadata(metadata: dict[str, Any], max_bytes: int, problems: Problems) -> None:
    """At most ``max_bytes`` as compact UTF-8 JSON (MAX_METADATA_BYTES), and no NUL
    character anywhere (PostgreSQL cannot store one)."""
    text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > max_bytes:
        problems.add("metadata", f"must be at most {max_bytes} bytes as JSON (MAX_METADATA_BYTES)")
    elif _has_nul(metadata):
        problems.add("metadata", "must not contain NUL characters")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def check_job_request(
    workflow_id: str, priority: str, metadata: dict[str, Any], max_metadata_bytes: int
) -> None:
    """Raise one ``ValidationError`` naming every bad field of the request."""
    problems = Problems()
    check_workflow_id(workflow_id, problems)
    check_priority(priority, problems)
    check_metadata(metadata, max_metadata_bytes, problems)
    problems.raise_if_any("Invalid job request")
