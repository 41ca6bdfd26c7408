"""Every answer an operation can give: its success statuses (from the method's comment),
and the error statuses that the server, the Envoy edge or a backend can produce for it.

Error bodies are ``{"error": CODE, "message": ...}`` with the codes of
``comfyui_gateway.errors.ERROR_TABLE``; each error status is one shared response in
``components/responses``.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from openapi_descriptors import Route

from comfyui_gateway.errors import ERROR_TABLE, ErrorCode

Schema = dict[str, Any]
SUCCESS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}
OPEN_MARKER = "Always open"
ADMIN_MARKER = re.compile(r"\bAdmins?\b")
"""How a method's comment says only admins may call it (403 for anyone else)."""

EVERY_REQUEST = {
    400: "a path or query value the edge or the server refuses (bad UTF-8, a bad number)",
    414: "a path longer than the edge accepts",
    431: "request headers larger than the edge accepts",
    429: "over the rate limit",
    500: "an unexpected failure",
    503: "no gateway server or no ComfyUI backend reachable",
    504: "a backend did not answer in time",
}
"""Statuses any request can meet, whatever its route, and why."""
GUARDED = {401: "missing or invalid credentials"}
ADMIN_ONLY = {403: "the caller is not an admin"}
WITH_BODY = {
    413: "the request body is larger than the edge accepts",
    415: "the request body is not of a media type the operation declares",
}
WITH_TARGET = {404: "no such resource (or not the caller's)"}
CHANGES = {409: "the change meets an existing id or a finished job"}
SUBMISSIONS = {
    404: "the named workflow does not exist",
    429: "over the rate limit, or the caller's job quota (QUOTA_EXCEEDED, with X-Quota-*)",
    503: "no gateway server or ComfyUI backend reachable, or the job queue is full "
    "(QUEUE_FULL: nothing was stored)",
}
"""Creations that name another resource in their body, and meet admission (quotas,
back-pressure)."""
SUBMISSION_METHODS = frozenset({"CreateJob"})
STATED_404 = re.compile(r"\b404\b")
"""A method whose comment says it answers 404 (a lookup by query, say ``GET /ui``)."""


def success_statuses(route: Route) -> list[int]:
    """The 2xx numbers the method's comment states ("REST answers 201"); 200 by default."""
    return sorted({int(code) for code in re.findall(r"\b(2\d\d)\b", route.doc)}) or [200]


def error_statuses(route: Route) -> dict[int, str]:
    """Each error status ``route`` can answer, with the reason it would."""
    statuses = dict(EVERY_REQUEST)
    if OPEN_MARKER not in route.doc:
        statuses.update(GUARDED)
    if ADMIN_MARKER.search(route.doc):
        statuses.update(ADMIN_ONLY)
    if route.bound or STATED_404.search(route.doc):
        statuses.update(WITH_TARGET)
    if route.method.name in SUBMISSION_METHODS:
        statuses.update(SUBMISSIONS)
    if route.verb != "get":
        statuses.update(CHANGES)
    if route.has_body:
        statuses.update(WITH_BODY)
    return dict(sorted(statuses.items()))


def operation_responses(route: Route, content: Schema) -> dict[str, Any]:
    """The ``responses`` object of one operation."""
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in SUCCESS_HEADERS}
    responses: dict[str, Any] = {}
    for status in success_statuses(route):
        answer: dict[str, Any] = {"description": SUCCESS_TEXT.get(status, "OK")}
        answer["headers"] = headers
        if status != HTTPStatus.NO_CONTENT:
            answer["content"] = content
        responses[str(status)] = answer
    for status in error_statuses(route):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    return responses


def error_schema() -> Schema:
    return {
        "type": "object",
        "description": "Every error answer: a code from the gateway's table and a message.",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "enum": [code.value for code in ErrorCode]},
            "message": {"type": "string"},
            "details": {"description": "Failing fields or ComfyUI's report, when known."},
        },
    }


SUCCESS_HEADERS = ("X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining")


def header_components() -> dict[str, Any]:
    return {
        "X-Request-Id": {
            "description": "Correlation id of the request (echoed or made).",
            "schema": {"type": "string"},
        },
        "X-RateLimit-Limit": {
            "description": "Requests allowed per window, when rate limiting is on.",
            "schema": {"type": "integer"},
        },
        "X-RateLimit-Remaining": {
            "description": "Requests left in the current window.",
            "schema": {"type": "integer"},
        },
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        },
        "Allow": {
            "description": "The methods the path does answer.",
            "schema": {"type": "string"},
        },
        **{name: quota_header(name) for name in QUOTA_HEADERS},
    }


QUOTA_HEADERS = (
    "X-Quota-Active-Limit",
    "X-Quota-Active-Remaining",
    "X-Quota-Daily-Limit",
    "X-Quota-Daily-Remaining",
)


def quota_header(name: str) -> dict[str, Any]:
    """The caller's job quota (``POST /jobs``), sent when that limit applies to it."""
    window = "queued + running" if "Active" in name else "rolling 24 h"
    what = "Jobs allowed" if name.endswith("Limit") else "Jobs left"
    return {
        "description": f"{what} under the caller's {window} quota, when it has one.",
        "schema": {"type": "integer"},
    }


def error_components(statuses: set[int]) -> dict[str, Any]:
    """One shared response per error status used, naming the codes it can carry."""
    by_status: dict[int, list[str]] = {}
    for code, spec in ERROR_TABLE.items():
        by_status.setdefault(spec.http_status, []).append(code.value)
    responses: dict[str, Any] = {}
    for status in sorted(statuses | set(by_status)):
        codes = sorted(by_status.get(status, []))
        label = ", ".join(codes) if codes else HTTPStatus(status).phrase
        answer: dict[str, Any] = {
            "description": f"Error: {label}",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            for name in QUOTA_HEADERS:
                answer["headers"][name] = {"$ref": f"#/components/headers/{name}"}
        responses[str(status)] = answer
    return responses
