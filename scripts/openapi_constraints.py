"""What the server enforces on REST input (and promises on output) that the protos cannot
say: ranges, patterns, enums, required fields. Every value is read from the constant the
server itself checks against, so the document cannot drift from the code.

Keys are ``(message, field)`` with the message's short name and the proto field name;
``"*"`` as the message applies the rule to that field in every request message.
"""

from __future__ import annotations

import re
from typing import Any

from comfyui_gateway.config import Settings
from comfyui_gateway.console import ASSET_NAME as CONSOLE_ASSET_NAME
from comfyui_gateway.jobs.cancellation import CANCELLING
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.store import DEFAULT_PAGE, JOB_ID, MAX_PAGE
from comfyui_gateway.outputs.formats import CONVERT_NAMES, MAX_QUALITY
from comfyui_gateway.workflows.definition import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    WORKFLOW_ID_PATTERN,
)
from server.services.audit import MAX_LIMIT as MAX_AUDIT_PAGE
from server.services.workflows import WORKFLOW_ID as WORKFLOW_PATH_ID

Schema = dict[str, Any]
ANY_REQUEST = "*"


def anchored(pattern: re.Pattern[str]) -> str:
    """A JSON Schema ``pattern`` (which searches) for a regex the server full-matches."""
    text = pattern.pattern.removeprefix("^").removesuffix("$")
    return f"^(?:{text})$"


def one_of_or_empty(values: list[str]) -> Schema:
    """A proto3 string enum: ``""`` is the same as leaving the field out."""
    return {"type": "string", "enum": ["", *values]}


def setting_default(name: str) -> int:
    """A deployment limit's default; the document states it (a deployment may change it)."""
    default = Settings.model_fields[name].default
    assert isinstance(default, int)
    return default


STATUSES = [status.value for status in JobStatus]
PRIORITIES = [priority.value for priority in JobPriority]

REQUEST_FIELDS: dict[tuple[str, str], Schema] = {
    (ANY_REQUEST, "job_id"): {"pattern": anchored(JOB_ID)},
    ("ListJobsRequest", "status"): one_of_or_empty(STATUSES),
    ("ListJobsRequest", "limit"): {
        "minimum": 0,
        "maximum": MAX_PAGE,
        "description": f"1-{MAX_PAGE}; 0 or absent: {DEFAULT_PAGE}.",
    },
    ("ListJobsRequest", "offset"): {"minimum": 0},
    ("CreateJobRequest", "workflow_id"): {"pattern": anchored(WORKFLOW_ID_PATTERN)},
    ("CreateJobRequest", "priority"): one_of_or_empty(PRIORITIES),
    ("CreateJobRequest", "metadata"): {
        "description": "Free-form; metadata.requestId makes the request idempotent per "
        f"caller. At most {setting_default('MAX_METADATA_BYTES')} bytes as compact JSON "
        "(MAX_METADATA_BYTES), no NUL characters.",
    },
    ("CreateJobRequest", "inputs"): {
        "description": "The workflow's inputs, checked against its input schema; text "
        f"values at most {setting_default('MAX_INPUT_STRING_CHARS')} characters "
        "(MAX_INPUT_STRING_CHARS) or the field's maxLength.",
    },
    # REST creation checks the path ids' pattern and the definition's (no leading '_').
    ("CreateWorkflowRequest", "id"): {
        "pattern": anchored(WORKFLOW_PATH_ID),
        "allOf": [{"pattern": anchored(WORKFLOW_ID_PATTERN)}],
    },
    ("CreateWorkflowRequest", "workflow_json"): {"minProperties": 1},
    ("GetWorkflowRequest", "id"): {"pattern": anchored(WORKFLOW_PATH_ID)},
    ("UpdateWorkflowRequest", "id"): {"pattern": anchored(WORKFLOW_PATH_ID)},
    ("DeleteWorkflowRequest", "id"): {"pattern": anchored(WORKFLOW_PATH_ID)},
    ("ListAuditEntriesRequest", "limit"): {"minimum": 0, "maximum": MAX_AUDIT_PAGE},
    ("CreateWorkflowRequest", "name"): {"maxLength": MAX_NAME_LENGTH, "pattern": r"\S"},
    ("UpdateWorkflowRequest", "name"): {"maxLength": MAX_NAME_LENGTH, "pattern": r"\S"},
    ("CreateWorkflowRequest", "description"): {"maxLength": MAX_DESCRIPTION_LENGTH},
    ("UpdateWorkflowRequest", "description"): {"maxLength": MAX_DESCRIPTION_LENGTH},
    ("DownloadOutputRequest", "format"): one_of_or_empty(["base64"]),
    ("DownloadOutputRequest", "convert"): one_of_or_empty(sorted(CONVERT_NAMES)),
    ("DownloadOutputRequest", "quality"): {"minimum": 0, "maximum": MAX_QUALITY},
    ("OutputFormat", "format"): one_of_or_empty(sorted(CONVERT_NAMES)),
    ("OutputFormat", "quality"): {"minimum": 0, "maximum": MAX_QUALITY},
    ("GetConsoleAssetRequest", "path"): {"pattern": anchored(CONSOLE_ASSET_NAME)},
}
"""Extra JSON Schema keywords of request fields (path, query and body alike)."""

REQUIRED_FIELDS: dict[str, list[str]] = {
    "CreateJobRequest": ["workflow_id"],
    "CreateWorkflowRequest": ["id", "name", "workflow_json"],
}
"""Request fields the server refuses to go without (other request fields are optional)."""

RESPONSE_FIELDS: dict[tuple[str, str], Schema] = {
    ("Job", "status"): {"enum": STATUSES},
    ("Job", "priority"): {"enum": PRIORITIES},
    ("Job", "progress"): {"minimum": 0, "maximum": 100},
    ("CancelJobResponse", "status"): {"enum": [JobStatus.CANCELLED.value, CANCELLING]},
    ("JobEvent", "progress"): {"minimum": 0, "maximum": 100},
}
"""Values the server's answers keep to."""


def field_constraints(message: str, field: str, *, request: bool) -> Schema:
    """The extra keywords for ``message.field``; empty when the server adds none."""
    if request:
        found = dict(REQUEST_FIELDS.get((ANY_REQUEST, field), {}))
        found.update(REQUEST_FIELDS.get((message, field), {}))
        return found
    return dict(RESPONSE_FIELDS.get((message, field), {}))
