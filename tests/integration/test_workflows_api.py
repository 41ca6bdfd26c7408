"""Workflows over REST (through Envoy) and gRPC, including the description's own client."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from comfyui_gateway.v1 import workflows_pb2, workflows_pb2_grpc
from tests.reference.comfyui_client import ComfyUIGateway
from tests.stack import GatewayStack

# The description's "Create Workflow (Admin)" curl body, verbatim.
CURL_CREATE_BODY: dict[str, Any] = {
    "id": "my_custom_workflow",
    "name": "My Custom Workflow",
    "description": "A custom txt2img workflow",
    "workflowJson": {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": "{{seed}}",
                "steps": "{{steps}}",
                "cfg": "{{cfg}}",
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    },
    "inputSchema": {
        "type": "object",
        "fields": {
            "prompt": {"type": "string", "required": True, "description": "Text prompt"},
            "seed": {"type": "number", "default": -1, "description": "Random seed"},
            "steps": {"type": "number", "default": 30, "min": 1, "max": 100},
            "cfg": {"type": "number", "default": 7.0, "min": 1, "max": 20},
        },
    },
    "defaultParams": {"seed": -1, "steps": 30, "cfg": 7.0},
}

# The nodes the description's fragment links to but leaves out.
MISSING_NODES: dict[str, Any] = {
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["8", 0]}},
}


def complete_body(workflow_id: str) -> dict[str, Any]:
    body = copy.deepcopy(CURL_CREATE_BODY)
    body["id"] = workflow_id
    body["workflowJson"].update(copy.deepcopy(MISSING_NODES))
    return body


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir: Path = tmp_path_factory.mktemp("workflows")
    with GatewayStack(workdir) as running:
        yield running


def test_description_fragment_gets_a_400_naming_each_dangling_link(gateway: GatewayStack) -> None:
    response = requests.post(f"{gateway.base_url}/workflows", json=CURL_CREATE_BODY, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "VALIDATION_ERROR"
    fields = {item["field"] for item in body["details"]}
    assert {"workflowJson.3.inputs.model", "workflowJson.3.inputs.latent_image"} <= fields


def test_curl_lifecycle_create_get_update_delete(gateway: GatewayStack) -> None:
    base = gateway.base_url
    workflow_id = f"wf_{uuid.uuid4().hex[:8]}"
    created = requests.post(f"{base}/workflows", json=complete_body(workflow_id), timeout=10)
    assert created.status_code == 201, created.text
    workflow = created.json()["workflow"]
    assert workflow["id"] == workflow_id
    assert workflow["name"] == "My Custom Workflow"
    assert workflow["inputSchema"]["fields"]["steps"]["max"] == 100
    assert workflow["workflowJson"]["3"]["inputs"]["model"] == ["4", 0]
    assert set(workflow) >= {
        "id",
        "name",
        "description",
        "workflowJson",
        "inputSchema",
        "defaultParams",
        "createdAt",
        "updatedAt",
    }

    again = requests.post(f"{base}/workflows", json=complete_body(workflow_id), timeout=10)
    assert again.status_code == 409
    assert again.json()["error"] == "CONFLICT"

    updated = requests.put(
        f"{base}/workflows/{workflow_id}",
        json={"name": "My Custom Workflow v2", "description": "Updated description"},
        timeout=10,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["workflow"]["name"] == "My Custom Workflow v2"
    assert updated.json()["workflow"]["workflowJson"] == workflow["workflowJson"]

    fetched = requests.get(f"{base}/workflows/{workflow_id}", timeout=10).json()["workflow"]
    assert fetched["description"] == "Updated description"

    deleted = requests.delete(f"{base}/workflows/{workflow_id}", timeout=10)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = requests.get(f"{base}/workflows/{workflow_id}", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"] == "WORKFLOW_NOT_FOUND"


def test_description_python_client_unmodified(gateway: GatewayStack) -> None:
    gw = ComfyUIGateway(gateway.base_url)
    workflow_id = f"py_{uuid.uuid4().hex[:8]}"
    body = complete_body(workflow_id)
    created = gw.create_workflow(
        workflow_id,
        "Python client workflow",
        body["workflowJson"],
        input_schema=body["inputSchema"],
        description="made by the reference client",
        default_params=body["defaultParams"],
    )
    assert created["id"] == workflow_id
    assert gw.get_workflow(workflow_id)["name"] == "Python client workflow"
    assert workflow_id in {w["id"] for w in gw.list_workflows()}
    assert workflow_id in {w["id"] for w in gw.capabilities()["workflows"]}
    assert gw.delete_workflow(workflow_id) is True
    assert gw.delete_workflow(workflow_id) is False


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda b: b.update(id="bad id!"), "id"),
        (lambda b: b["workflowJson"]["6"]["inputs"].update(text="{{undeclared}}"), "workflowJson"),
        (lambda b: b["workflowJson"].update({"x": {"inputs": {}}}), "workflowJson.x"),
        (lambda b: b["inputSchema"]["fields"]["steps"].update(min=10, max=1), "inputSchema"),
    ],
)
def test_bad_workflows_are_refused_with_the_field(
    gateway: GatewayStack, mutation: Any, field: str
) -> None:
    body = complete_body(f"bad_{uuid.uuid4().hex[:8]}")
    mutation(body)
    response = requests.post(f"{gateway.base_url}/workflows", json=body, timeout=10)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["error"] == "VALIDATION_ERROR"
    mentioned = str(payload.get("details", "")) + payload["message"]
    assert field in mentioned


def test_unknown_workflow_update_and_delete_are_404(gateway: GatewayStack) -> None:
    for method in (requests.put, requests.delete):
        response = method(f"{gateway.base_url}/workflows/nope_{uuid.uuid4().hex[:6]}", timeout=10)
        assert response.status_code == 404
        assert response.json()["error"] == "WORKFLOW_NOT_FOUND"


def test_grpc_create_and_errors(gateway: GatewayStack) -> None:
    from google.protobuf import json_format

    workflow_id = f"grpc_{uuid.uuid4().hex[:8]}"
    request = json_format.ParseDict(
        complete_body(workflow_id), workflows_pb2.CreateWorkflowRequest()
    )
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = workflows_pb2_grpc.WorkflowServiceStub(channel)
        reply = stub.CreateWorkflow(request, timeout=10)
        assert reply.workflow.id == workflow_id
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateWorkflow(request, timeout=10)
        assert raised.value.code() is grpc.StatusCode.ALREADY_EXISTS
        trailers = {item.key: item.value for item in raised.value.trailing_metadata() or ()}
        assert '"error":"CONFLICT"' in str(trailers["x-gw-error"])
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetWorkflow(workflows_pb2.GetWorkflowRequest(id="no_such"), timeout=10)
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND


def test_admin_changes_are_audited(gateway: GatewayStack) -> None:
    import sqlite3

    workflow_id = f"audit_{uuid.uuid4().hex[:8]}"
    assert (
        requests.post(
            f"{gateway.base_url}/workflows", json=complete_body(workflow_id), timeout=10
        ).status_code
        == 201
    )
    requests.delete(f"{gateway.base_url}/workflows/{workflow_id}", timeout=10)
    with sqlite3.connect(gateway.env["DATABASE_URL"]) as db:
        rows = db.execute(
            "SELECT actor, action, outcome FROM audit_log WHERE target = ? ORDER BY id",
            (workflow_id,),
        ).fetchall()
    assert rows == [
        ("anonymous", "workflow.create", "success"),
        ("anonymous", "workflow.delete", "success"),
    ]
