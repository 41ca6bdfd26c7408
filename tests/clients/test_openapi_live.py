"""Live REST answers match the OpenAPI document the gateway serves at GET /openapi.json.

Each answer's status must be one the document lists for that operation, and its JSON
body must validate against the schema given for that status (JSON Schema 2020-12, as
OpenAPI 3.1 uses), error answers included.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012 as _DRAFT

from tests.clients.conftest import INPUTS, ROOT
from tests.stack import GatewayStack

MISSING_JOB = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def document(gateway: GatewayStack) -> dict[str, Any]:
    response = requests.get(f"{gateway.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served: dict[str, Any] = response.json()
    assert served == json.loads((ROOT / "clients" / "openapi.json").read_text())
    return served


def check(
    document: dict[str, Any],
    path: str,
    method: str,
    response: requests.Response,
) -> None:
    """Fail unless ``response`` is a documented answer of ``method path``."""
    operation = document["paths"][path][method]
    answers = operation["responses"]
    status = str(response.status_code)
    assert status in answers, f"{method.upper()} {path}: {status} undocumented: {response.text}"
    answer = answers[status]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    if "content" not in answer:
        assert response.content == b""
        return
    media = response.headers["content-type"].split(";")[0]
    content = answer["content"]
    assert media in content or "*/*" in content, f"{media} not documented for {path}"
    if media != "application/json" or media not in content:
        return
    schema = content[media]["schema"]
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=_DRAFT)
    )
    wrapped = {"$ref": "urn:openapi#" + schema["$ref"][1:]} if "$ref" in schema else schema
    Draft202012Validator(wrapped, registry=registry).validate(response.json())


def test_live_answers_match_the_document(gateway: GatewayStack, document: dict[str, Any]) -> None:
    base = gateway.base_url

    def get(path: str) -> requests.Response:
        return requests.get(f"{base}{path}", timeout=10)

    check(document, "/health", "get", get("/health"))
    check(document, "/capabilities", "get", get("/capabilities"))
    check(document, "/workflows", "get", get("/workflows"))
    check(document, "/workflows/{id}", "get", get("/workflows/icon_512"))
    check(document, "/workflows/{id}", "get", get("/workflows/nope"))

    body = {"workflowId": "icon_512", "inputs": {**INPUTS, "steps": 2}}
    created = requests.post(f"{base}/jobs", json=body, timeout=10)
    check(document, "/jobs", "post", created)
    job_id = created.json()["jobId"]
    bad = requests.post(f"{base}/jobs", json={"workflowId": "icon_512", "inputs": {}}, timeout=10)
    check(document, "/jobs", "post", bad)
    deadline = time.monotonic() + 30
    while get(f"/jobs/{job_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    job = get(f"/jobs/{job_id}")
    check(document, "/jobs/{jobId}", "get", job)
    check(document, "/jobs/{jobId}", "get", get(f"/jobs/{MISSING_JOB}"))
    check(document, "/jobs", "get", get("/jobs?status=succeeded&limit=5"))
    check(document, "/jobs/{jobId}/logs", "get", get(f"/jobs/{job_id}/logs"))
    check(document, "/outputs/{jobId}", "get", get(f"/outputs/{job_id}"))
    stored = job.json()["outputs"][0]["url"].rsplit("/", 1)[1]
    check(document, "/outputs/{jobId}/{filename}", "get", get(f"/outputs/{job_id}/{stored}"))
    as_base64 = get(f"/outputs/{job_id}/{stored}?format=base64")
    check(document, "/outputs/{jobId}/{filename}", "get", as_base64)
    check(document, "/outputs/{jobId}/{filename}", "get", get(f"/outputs/{job_id}/nope.png"))
    cancel = requests.post(f"{base}/jobs/{job_id}/cancel", timeout=10)
    check(document, "/jobs/{jobId}/cancel", "post", cancel)
    assert cancel.status_code == 409

    events = get(f"/jobs/{job_id}/events")
    check(document, "/jobs/{jobId}/events", "get", events)
    schema = document["paths"]["/jobs/{jobId}/events"]["get"]["responses"]["200"]["content"]
    event_schema = schema["text/event-stream"]["schema"]["properties"]["data"]["contentSchema"]
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=_DRAFT)
    )
    validator = Draft202012Validator(
        {"$ref": "urn:openapi#" + event_schema["$ref"][1:]}, registry=registry
    )
    lines = [line for line in events.text.splitlines() if line.startswith("data: ")]
    assert lines
    for line in lines:
        validator.validate(json.loads(line[len("data: ") :]))


def test_workflow_admin_answers_match_the_document(
    gateway: GatewayStack, document: dict[str, Any]
) -> None:
    base = gateway.base_url
    template = requests.get(f"{base}/workflows/icon_512", timeout=10).json()["workflow"]
    body = {
        "id": "openapi_probe",
        "name": "Probe",
        "workflowJson": template["workflowJson"],
        "inputSchema": template["inputSchema"],
    }
    created = requests.post(f"{base}/workflows", json=body, timeout=10)
    check(document, "/workflows", "post", created)
    assert created.status_code == 201
    check(document, "/workflows", "post", requests.post(f"{base}/workflows", json=body, timeout=10))
    updated = requests.put(f"{base}/workflows/openapi_probe", json={"name": "P2"}, timeout=10)
    check(document, "/workflows/{id}", "put", updated)
    deleted = requests.delete(f"{base}/workflows/openapi_probe", timeout=10)
    check(document, "/workflows/{id}", "delete", deleted)
    assert deleted.status_code == 204
