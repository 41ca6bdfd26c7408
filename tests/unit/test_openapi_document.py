"""The OpenAPI document is generated from the protos, valid, and committed up to date."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """scripts/ is not a package: load a generator by path, with its siblings importable."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "clients" / "openapi.json").read_text())
    return document


def test_committed_documents_equal_a_fresh_generation() -> None:
    fresh = load_script("gen_openapi").render()
    assert (ROOT / "clients" / "openapi.json").read_text() == fresh, "run `make clients`"
    assert (ROOT / "comfyui_gateway" / "openapi.json").read_text() == fresh, "run `make clients`"


def test_document_is_valid_openapi_3_1() -> None:
    document = committed()
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_annotated_rpc_is_a_path_with_the_documented_names() -> None:
    paths = committed()["paths"]
    assert set(paths) >= {
        "/health",
        "/capabilities",
        "/openapi.json",
        "/workflows",
        "/workflows/{id}",
        "/jobs",
        "/jobs/{jobId}",
        "/jobs/{jobId}/cancel",
        "/jobs/{jobId}/logs",
        "/jobs/{jobId}/events",
        "/outputs/{jobId}",
        "/outputs/{jobId}/{filename}",
    }
    assert set(paths["/workflows/{id}"]) == {"get", "put", "delete"}
    list_jobs = {p["name"] for p in paths["/jobs"]["get"]["parameters"]}
    assert list_jobs == {"status", "workflowId", "after", "before", "limit", "offset"}


def test_success_statuses_errors_and_auth_are_described() -> None:
    document = committed()
    paths = document["paths"]
    assert set(paths["/jobs"]["post"]["responses"]) >= {"200", "202", "400", "429"}
    assert "201" in paths["/workflows"]["post"]["responses"]
    deleted = paths["/workflows/{id}"]["delete"]["responses"]["204"]
    assert "content" not in deleted
    assert (
        "text/event-stream" in paths["/jobs/{jobId}/events"]["get"]["responses"]["200"]["content"]
    )
    download = paths["/outputs/{jobId}/{filename}"]["get"]["responses"]["200"]["content"]
    assert set(download) == {"*/*", "application/json"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    assert {"JOB_NOT_FOUND", "RATE_LIMITED", "VALIDATION_ERROR"} <= set(
        error["properties"]["error"]["enum"]
    )
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert paths["/health"]["get"]["security"] == [{}]
    retry_after = document["components"]["responses"]["429"]["headers"]
    assert "Retry-After" in retry_after


def test_job_schema_follows_envoys_json() -> None:
    job = committed()["components"]["schemas"]["Job"]
    progress = {"type": "number", "description": "0-100.", "minimum": 0, "maximum": 100}
    assert job["properties"]["progress"] == progress
    assert "jobId" in job["required"] and "error" not in job["required"]
    timing = committed()["components"]["schemas"]["Timing"]
    assert timing["properties"]["createdAt"]["format"] == "date-time"
    assert "executionTimeMs" not in timing.get("required", [])
