"""Bad input is a 400 naming the field, before any work, through the real Envoy and gRPC.

One gateway (emulator, embedded workers, bundled workflows) for the module: path
variables that a query or body field tries to override, oversized and empty strings,
metadata, answers that must fit Envoy's buffers, ids, pages and enums.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import descriptor_pool, struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_gateway.v1 import (
    jobs_pb2,
    jobs_pb2_grpc,
    outputs_pb2,
    outputs_pb2_grpc,
    workflows_pb2,
    workflows_pb2_grpc,
)
from server.app import SERVICE_NAMES
from server.path_bindings import PathBindings, json_name, query_names
from tests.integration.hardening_helpers import (
    SMALL,
    assert_validation_error,
    register_bundled,
    wait_for_status,
)
from tests.integration.security_helpers import grpc_error_body
from tests.stack import GatewayStack

EMOJI = "\U0001f600"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir: Path = tmp_path_factory.mktemp("hardening")
    env = {"COMFYUI_EMULATOR_STEP_MS": "40", "MAX_CONCURRENCY": "2"}
    with GatewayStack(workdir, env, emulator=True) as stack:
        register_bundled(stack)
        yield stack


@pytest.fixture(scope="module")
def job_id(gateway: GatewayStack) -> str:
    created = create(gateway, {"workflowId": "icon_512", "inputs": {"prompt": "a", **SMALL}})
    wait_for_status(gateway, created["jobId"], {"succeeded"})
    return str(created["jobId"])


def create(stack: GatewayStack, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{stack.base_url}/jobs", json=body, timeout=30)
    assert response.status_code in (200, 202), response.text
    payload: dict[str, Any] = response.json()
    return payload


def post_job(stack: GatewayStack, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.base_url}/jobs", json=body, timeout=30)


def routes() -> list[tuple[str, str, str]]:
    """(verb, template, path field) for every path variable of every annotated route."""
    bindings = PathBindings()
    found = []
    for service in SERVICE_NAMES:
        descriptor = descriptor_pool.Default().FindServiceByName(service)
        for method in descriptor.methods:
            for binding in bindings.bindings(f"/{service}/{method.name}"):
                for field in binding.fields:
                    found.append((binding.verb, binding.pattern.pattern, field))
    return found


ROUTES = routes()


def concrete_path(pattern: str, values: dict[str, str]) -> str:
    """The template regex with each variable group filled in order."""
    path = pattern.replace("\\", "")
    for value in values.values():
        path = path.replace("([^/]+)", value, 1).replace("(.+)", value, 1)
    return path


# --- 1. path variables cannot be overridden -------------------------------------------


def test_every_route_with_a_path_variable_is_covered() -> None:
    fields = {(verb, field) for verb, _, field in ROUTES}
    assert ("DELETE", "id") in fields and ("GET", "job_id") in fields
    assert ("PUT", "id") in fields and ("POST", "job_id") in fields
    assert len(ROUTES) >= 9  # workflows x3, jobs x4, outputs x2 (future routes join)


@pytest.mark.parametrize(
    ("verb", "pattern", "field"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_query_parameter_naming_a_path_variable_is_refused(
    gateway: GatewayStack, job_id: str, verb: str, pattern: str, field: str
) -> None:
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        name=st.sampled_from(sorted(query_names(field))),
        value=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FF), max_size=12),
    )
    def check(name: str, value: str) -> None:
        first = "icon_512" if pattern.startswith("/workflows") else job_id
        path = concrete_path(pattern, {"first": first, "second": "x.png"})
        body: dict[str, Any] | None = {} if verb in ("POST", "PUT") else None
        response = requests.request(
            verb, f"{gateway.base_url}{path}", params={name: value}, json=body, timeout=15
        )
        refusal = assert_validation_error(response, json_name(field))
        assert refusal["message"].startswith(f"{json_name(field)} is taken from the URL path")

    check()


def test_delete_with_a_colliding_id_deletes_nothing(gateway: GatewayStack) -> None:
    response = requests.delete(
        f"{gateway.base_url}/workflows/icon_512?id=sdxl_realism_v1", timeout=10
    )
    body = assert_validation_error(response, "id")
    assert "query parameter" in body["message"]
    for workflow in ("icon_512", "sdxl_realism_v1"):
        assert requests.get(f"{gateway.base_url}/workflows/{workflow}", timeout=10).ok


def test_get_job_with_a_colliding_job_id_is_refused(gateway: GatewayStack, job_id: str) -> None:
    other = create(gateway, {"workflowId": "icon_512", "inputs": {"prompt": "b", **SMALL}})
    for name in ("job_id", "jobId"):
        response = requests.get(
            f"{gateway.base_url}/jobs/{job_id}", params={name: other["jobId"]}, timeout=10
        )
        body = assert_validation_error(response, "jobId")
        assert other["jobId"] not in response.text and name in body["message"]


def test_put_body_naming_another_workflow_is_refused(gateway: GatewayStack) -> None:
    before = requests.get(f"{gateway.base_url}/workflows/sdxl_realism_v1", timeout=10).json()
    response = requests.put(
        f"{gateway.base_url}/workflows/icon_512",
        json={"id": "sdxl_realism_v1", "description": "hijacked"},
        timeout=10,
    )
    assert_validation_error(response, "id")
    after = requests.get(f"{gateway.base_url}/workflows/sdxl_realism_v1", timeout=10).json()
    assert after == before


def test_put_body_repeating_the_path_id_is_accepted(gateway: GatewayStack) -> None:
    current = requests.get(f"{gateway.base_url}/workflows/icon_512", timeout=10).json()
    response = requests.put(
        f"{gateway.base_url}/workflows/icon_512",
        json={"id": "icon_512", "description": current["workflow"]["description"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_cancel_body_naming_another_job_never_acts_on_it(
    gateway: GatewayStack, job_id: str
) -> None:
    """``job_id`` in the body would override the path (refused); the transcoder lets the
    path win over a camelCase ``jobId`` (the path's job answers). Either way the other
    job is untouched."""
    other = create(gateway, {"workflowId": "icon_512", "inputs": {"prompt": "c", **SMALL}})
    url = f"{gateway.base_url}/jobs/{job_id}/cancel"
    refused = requests.post(url, json={"job_id": other["jobId"]}, timeout=10)
    assert_validation_error(refused, "jobId")
    ignored = requests.post(url, json={"jobId": other["jobId"]}, timeout=10)
    assert ignored.status_code == 409 and job_id in ignored.json()["message"], ignored.text
    assert wait_for_status(gateway, other["jobId"], {"succeeded"})["status"] == "succeeded"


def test_direct_grpc_callers_have_no_path_and_are_unaffected(gateway: GatewayStack) -> None:
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = workflows_pb2_grpc.WorkflowServiceStub(channel)
        answer = stub.GetWorkflow(workflows_pb2.GetWorkflowRequest(id="icon_512"), timeout=10)
    assert answer.workflow.id == "icon_512"


# --- 2. bounded strings; answers that always fit -------------------------------------


def test_a_huge_prompt_is_refused_naming_the_field_and_the_setting(gateway: GatewayStack) -> None:
    response = post_job(
        gateway, {"workflowId": "icon_512", "inputs": {"prompt": "x" * 1_500_000, **SMALL}}
    )
    body = assert_validation_error(response, "inputs.prompt")
    assert "20000" in body["message"] and "MAX_INPUT_STRING_CHARS" in body["message"]
    assert "xxxx" not in response.text


def test_oversized_metadata_is_refused(gateway: GatewayStack) -> None:
    metadata = {"note": "m" * (17 * 1024)}
    response = post_job(
        gateway, {"workflowId": "icon_512", "inputs": {"prompt": "a"}, "metadata": metadata}
    )
    body = assert_validation_error(response, "metadata")
    assert "MAX_METADATA_BYTES" in body["message"] and "mmmm" not in response.text


@pytest.mark.parametrize("prompt", ["", "   ", "a\x00b", "bell\x07"])
def test_empty_or_control_character_prompts_are_refused(gateway: GatewayStack, prompt: str) -> None:
    response = post_job(gateway, {"workflowId": "icon_512", "inputs": {"prompt": prompt}})
    assert_validation_error(response, "inputs.prompt")


def test_hostile_input_keys_are_refused_without_being_echoed(gateway: GatewayStack) -> None:
    inputs = {"prompt": "a", "<img src=x onerror=alert(1)>": 1, "z" * 3000: 2}
    response = post_job(gateway, {"workflowId": "icon_512", "inputs": inputs})
    assert_validation_error(response, "inputs")
    assert "onerror" not in response.text and "zzzz" not in response.text


def test_schema_max_length_is_enforced_and_validated(gateway: GatewayStack) -> None:
    workflow = requests.get(f"{gateway.base_url}/workflows/icon_512", timeout=10).json()["workflow"]
    schema = workflow["inputSchema"]
    schema["fields"]["prompt"]["maxLength"] = 10
    body = {
        "id": "short_prompt",
        "name": "Short prompt",
        "workflowJson": workflow["workflowJson"],
        "inputSchema": schema,
        "defaultParams": workflow["defaultParams"],
    }
    assert requests.post(f"{gateway.base_url}/workflows", json=body, timeout=10).status_code == 201
    response = post_job(gateway, {"workflowId": "short_prompt", "inputs": {"prompt": "x" * 11}})
    message = assert_validation_error(response, "inputs.prompt")["message"]
    assert "at most 10 characters (maxLength)" in message
    schema["fields"]["steps"]["maxLength"] = 3
    bad = requests.post(
        f"{gateway.base_url}/workflows", json={**body, "id": "bad_schema"}, timeout=10
    )
    assert_validation_error(bad, "maxLength")


def test_worst_case_jobs_never_break_reads_or_listings(gateway: GatewayStack) -> None:
    """Jobs at every limit at once (4-byte characters, full metadata): each reads back, and
    a listing over many of them answers 200 (fewer jobs than asked, the full count)."""
    prompt = EMOJI * 20_000
    metadata = {"note": EMOJI * 4000}  # 16,000 bytes of compact JSON
    ids = []
    for _ in range(14):
        created = create(
            gateway,
            {
                "workflowId": "icon_512",
                "inputs": {"prompt": prompt, "negative_prompt": prompt, **SMALL, "seed": -1},
                "metadata": metadata,
            },
        )
        ids.append(created["jobId"])
    single = requests.get(f"{gateway.base_url}/jobs/{ids[0]}", timeout=30)
    assert single.status_code == 200, single.text[:300]
    assert single.json()["inputs"]["prompt"] == prompt
    listing = requests.get(f"{gateway.base_url}/jobs?limit=500", timeout=60)
    assert listing.status_code == 200, listing.text[:300]
    page = listing.json()
    assert page["count"] >= 14 and 1 <= len(page["jobs"]) < page["count"]
    seen = {job["jobId"] for job in page["jobs"]}
    offset = len(page["jobs"])
    while offset < page["count"]:  # paging on by what was received reaches every job
        more = requests.get(f"{gateway.base_url}/jobs?limit=500&offset={offset}", timeout=60)
        assert more.status_code == 200, more.text[:300]
        seen |= {job["jobId"] for job in more.json()["jobs"]}
        offset += len(more.json()["jobs"])
    assert set(ids) <= seen


def test_grpc_create_applies_the_same_limits(gateway: GatewayStack) -> None:
    inputs = struct_pb2.Struct()
    inputs.update({"prompt": "y" * 20_001})
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.CreateJob(
                jobs_pb2.CreateJobRequest(workflow_id="icon_512", inputs=inputs), timeout=10
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    body = grpc_error_body(refused.value)
    assert body["error"] == "VALIDATION_ERROR" and "inputs.prompt" in body["message"]


# --- 5. combo values against the backends' catalogue --------------------------------


def _refused_until_catalogue_known(stack: GatewayStack, body: dict[str, Any]) -> dict[str, Any]:
    """The refusal, once a worker has published the backend's catalogue (at start-up)."""
    deadline = time.monotonic() + 60
    while True:
        response = post_job(stack, body)
        if response.status_code == 400 or time.monotonic() > deadline:
            return assert_validation_error(response, "inputs.")
        requests.post(f"{stack.base_url}/jobs/{response.json()['jobId']}/cancel", timeout=10)
        time.sleep(1)


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"checkpoint": "../../../etc/passwd"}, "inputs.checkpoint"),
        ({"checkpoint": "not_installed.safetensors"}, "inputs.checkpoint"),
    ],
)
def test_models_not_in_the_catalogue_are_refused_at_submission(
    gateway: GatewayStack, inputs: dict[str, Any], field: str
) -> None:
    body = {"workflowId": "icon_512", "inputs": {"prompt": "a", **SMALL, **inputs}}
    refusal = _refused_until_catalogue_known(gateway, body)
    assert refusal["details"][0]["field"] == field
    assert "CheckpointLoaderSimple.ckpt_name" in refusal["message"]
    assert "passwd" not in refusal["message"] and "not_installed" not in refusal["message"]


def test_grpc_submission_checks_the_catalogue_too(gateway: GatewayStack) -> None:
    body = {"workflowId": "icon_512", "inputs": {"prompt": "a", "checkpoint": "../x"}}
    _refused_until_catalogue_known(gateway, body)  # the catalogue is known from here on
    inputs = struct_pb2.Struct()
    inputs.update({"prompt": "a", "checkpoint": "../x"})
    request = jobs_pb2.CreateJobRequest(workflow_id="icon_512", inputs=inputs)
    with (
        grpc.insecure_channel(gateway.grpc_address) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        jobs_pb2_grpc.JobServiceStub(channel).CreateJob(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "inputs.checkpoint" in grpc_error_body(refused.value)["message"]


def test_a_save_prefix_comfyui_refuses_is_a_node_error_not_a_retry(gateway: GatewayStack) -> None:
    """ComfyUI writes ``.._00001_.png`` for prefix ``..`` but its /view refuses names with
    '..' (400): that is the workflow's fault, final, not an unreachable backend."""
    workflow = requests.get(f"{gateway.base_url}/workflows/icon_512", timeout=10).json()["workflow"]
    graph, schema = workflow["workflowJson"], workflow["inputSchema"]
    for node in graph.values():
        if node["class_type"] == "SaveImage":
            node["inputs"]["filename_prefix"] = "{{prefix}}"
    schema["fields"]["prefix"] = {"type": "string", "default": "icon"}
    definition = {"id": "prefixed", "name": "Prefixed", "workflowJson": graph}
    definition |= {"inputSchema": schema, "defaultParams": workflow["defaultParams"]}
    assert requests.post(f"{gateway.base_url}/workflows", json=definition, timeout=10).ok
    created = create(
        gateway, {"workflowId": "prefixed", "inputs": {"prompt": "a", "prefix": "..", **SMALL}}
    )
    job = wait_for_status(gateway, created["jobId"], {"succeeded", "failed"})
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "COMFYUI_NODE_ERROR" and job["error"]["retryable"] is False
    assert job["attempt"] == 1
    assert "filename_prefix" in job["error"]["message"]


# --- 6. callbacks fail fast and say little -----------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://localhost:9/hook", "WEBHOOK_ALLOWED_DOMAINS"),
        ("http://169.254.169.254/latest/meta-data/", "WEBHOOK_ALLOWED_DOMAINS"),
        ("http://[::1]:9/hook", "WEBHOOK_ALLOWED_DOMAINS"),
        ("http://example.com/a b", "whitespace"),
        ("http://example.com/\x7f", "control"),
    ],
)
def test_undeliverable_callbacks_are_refused_at_creation(
    gateway: GatewayStack, url: str, rule: str
) -> None:
    body = {"workflowId": "icon_512", "inputs": {"prompt": "a"}, "callbackUrl": url}
    refusal = assert_validation_error(
        post_job(gateway, body),
        "callbackUrl" if rule != "WEBHOOK_ALLOWED_DOMAINS" else "Callback host",
    )
    assert rule in refusal["message"]
    assert "127.0.0.1" not in refusal["message"]


def test_grpc_refuses_an_undeliverable_callback_too(gateway: GatewayStack) -> None:
    inputs = struct_pb2.Struct()
    inputs.update({"prompt": "a"})
    request = jobs_pb2.CreateJobRequest(
        workflow_id="icon_512", inputs=inputs, callback_url="http://localhost:9/x"
    )
    with (
        grpc.insecure_channel(gateway.grpc_address) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        jobs_pb2_grpc.JobServiceStub(channel).CreateJob(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "WEBHOOK_ALLOWED_DOMAINS" in grpc_error_body(refused.value)["message"]


# --- 7. smaller leaks ----------------------------------------------------------------


def test_storage_path_is_the_key_not_the_servers_folder(gateway: GatewayStack, job_id: str) -> None:
    job = requests.get(f"{gateway.base_url}/jobs/{job_id}", timeout=10).json()
    output = job["outputs"][0]
    assert output["storagePath"] == output["url"].removeprefix("/outputs/")
    assert str(gateway.workdir) not in json.dumps(job)
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        answer = jobs_pb2_grpc.JobServiceStub(channel).GetJob(
            jobs_pb2.GetJobRequest(job_id=job_id), timeout=10
        )
    assert answer.outputs[0].storage_path == output["storagePath"]


def _running_slow_job(stack: GatewayStack) -> str:
    slow = {"prompt": "slow", "width": 64, "height": 64, "steps": 150}
    job_id = str(create(stack, {"workflowId": "sdxl_realism_v1", "inputs": slow})["jobId"])
    deadline = time.monotonic() + 60
    while requests.get(f"{stack.base_url}/jobs/{job_id}", timeout=10).json()["progress"] < 2:
        assert time.monotonic() < deadline, "job never made progress"
        time.sleep(0.1)
    return job_id


def test_cancelling_a_running_job_answers_cancelling_until_confirmed(
    gateway: GatewayStack,
) -> None:
    job_id = _running_slow_job(gateway)
    answer = requests.post(f"{gateway.base_url}/jobs/{job_id}/cancel", timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "cancelling"
    assert wait_for_status(gateway, job_id, {"cancelled"})["status"] == "cancelled"
    other = _running_slow_job(gateway)
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        reply = stub.CancelJob(jobs_pb2.CancelJobRequest(job_id=other), timeout=10)
    assert reply.status == "cancelling"
    assert wait_for_status(gateway, other, {"cancelled"})["status"] == "cancelled"


# --- 4. ids, pages and enums name the field ------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": {"prompt": "a"}}, "workflowId"),
        ({"workflowId": "", "inputs": {"prompt": "a"}}, "workflowId"),
        ({"workflowId": "../etc", "inputs": {"prompt": "a"}}, "workflowId"),
        ({"workflowId": "icon_512", "inputs": {"prompt": "a"}, "priority": "urgent"}, "priority"),
    ],
)
def test_create_job_request_fields_are_checked(
    gateway: GatewayStack, body: dict[str, Any], field: str
) -> None:
    response = post_job(gateway, body)
    assert_validation_error(response, field)
    assert "not found" not in response.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("offset=-5", "offset"),
        ("status=done", "status"),
    ],
)
def test_list_jobs_parameters_are_checked(gateway: GatewayStack, query: str, field: str) -> None:
    response = requests.get(f"{gateway.base_url}/jobs?{query}", timeout=10)
    assert_validation_error(response, field)


def test_grpc_empty_ids_name_the_field(gateway: GatewayStack) -> None:
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        jobs = jobs_pb2_grpc.JobServiceStub(channel)
        workflows = workflows_pb2_grpc.WorkflowServiceStub(channel)
        calls: list[tuple[Callable[[], object], str]] = [
            (lambda: jobs.GetJob(jobs_pb2.GetJobRequest(), timeout=10), "jobId"),
            (lambda: jobs.CancelJob(jobs_pb2.CancelJobRequest(), timeout=10), "jobId"),
            (lambda: workflows.GetWorkflow(workflows_pb2.GetWorkflowRequest(), timeout=10), "id"),
            (lambda: jobs.CreateJob(jobs_pb2.CreateJobRequest(), timeout=10), "workflowId"),
        ]
        for call, field in calls:
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
            body = grpc_error_body(refused.value)
            assert body["error"] == "VALIDATION_ERROR" and field in body["message"]


def test_a_hostile_output_name_is_not_echoed(gateway: GatewayStack, job_id: str) -> None:
    response = requests.get(f"{gateway.base_url}/outputs/{job_id}/%3Cscript%3Ex.png", timeout=10)
    assert response.status_code == 404 and response.json()["error"] == "OUTPUT_NOT_FOUND"
    assert "script" not in response.text
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        stub = outputs_pb2_grpc.OutputServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.DownloadOutput(outputs_pb2.DownloadOutputRequest(job_id=job_id), timeout=10))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "filename" in grpc_error_body(refused.value)["message"]


# --- 8. properties: huge values and empty required strings ---------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    prompt=st.one_of(
        st.text(alphabet=" \t\n", max_size=5),
        st.tuples(st.text(min_size=1, max_size=8), st.integers(20_001, 200_000)).map(
            lambda unit_and_size: (unit_and_size[0] * unit_and_size[1])[: unit_and_size[1]]
        ),
        st.text(st.characters(max_codepoint=0x1F, exclude_characters="\t\n\r"), min_size=1),
    )
)
def test_property_bad_prompts_are_400_naming_the_field(gateway: GatewayStack, prompt: str) -> None:
    response = post_job(gateway, {"workflowId": "icon_512", "inputs": {"prompt": prompt}})
    body = assert_validation_error(response, "inputs.prompt")
    assert "inputs.prompt" in {item["field"] for item in body["details"]}
    if len(prompt.strip()) >= 8:
        assert prompt.strip()[:8] not in response.text  # never echoed
