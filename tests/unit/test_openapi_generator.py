"""The OpenAPI generator handles what new protos bring without being taught: a raw-body
upload (``google.api.HttpBody``, multipart), a gRPC-only client stream, a DELETE answering
204, nested query messages; and it states the limits the server enforces, read from the
server's own constants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from comfyui_gateway.jobs.status import JobStatus
from comfyui_gateway.jobs.store import JOB_ID, MAX_PAGE
from comfyui_gateway.workflows.definition import MAX_NAME_LENGTH
from tests.unit.test_openapi_document import committed, load_script

EXTRA_PROTO = """
syntax = "proto3";
package comfyui_gateway.v1;

import "google/api/annotations.proto";
import "google/api/httpbody.proto";
import "google/protobuf/empty.proto";

service ScratchService {
  // REST: the raw bytes as the body with their Content-Type, or
  // multipart/form-data with the file in the field `file`; answers 201.
  rpc CreateScratch(stream google.api.HttpBody) returns (Scratch) {
    option (google.api.http) = {post: "/scratch" body: "*"};
  }
  // gRPC only: no REST face.
  rpc PushScratch(stream Scratch) returns (Scratch);
  // Removes a scratch file (REST: 204).
  rpc DeleteScratch(DeleteScratchRequest) returns (google.protobuf.Empty) {
    option (google.api.http) = {delete: "/scratch/{job_id}"};
  }
  rpc GetScratch(GetScratchRequest) returns (Scratch) {
    option (google.api.http) = {get: "/scratch/{job_id}"};
  }
  rpc RenameScratch(RenameScratchRequest) returns (Scratch) {
    option (google.api.http) = {put: "/scratch/{job_id}" body: "*"};
  }
}

message Scratch {
  string scratch_id = 1;
  uint32 size = 2;
}
message Convert {
  // "png" or "webp".
  string format = 1;
  int32 quality = 2;
}
message DeleteScratchRequest {
  string job_id = 1;
}
message RenameScratchRequest {
  string job_id = 1;
  string name = 2;
}
message GetScratchRequest {
  string job_id = 1;
  Convert convert = 2;
  bool inline = 3;
}
"""


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document of a proto folder holding one new file beside the real protos."""
    folder = tmp_path_factory.mktemp("protos")
    proto = folder / "comfyui_gateway" / "v1" / "scratch.proto"
    proto.parent.mkdir(parents=True)
    proto.write_text(EXTRA_PROTO)
    generator = load_script("gen_openapi")
    document: dict[str, Any] = generator.build(generator.descriptor_set(Path(folder)))
    validate(document)
    return document


def test_a_raw_body_upload_takes_bytes_or_multipart(extended: dict[str, Any]) -> None:
    upload = extended["paths"]["/scratch"]["post"]
    content = upload["requestBody"]["content"]
    assert content["*/*"]["schema"] == {"type": "string", "format": "binary"}
    multipart = content["multipart/form-data"]["schema"]
    assert multipart["required"] == ["file"]
    assert multipart["properties"]["file"]["format"] == "binary"
    assert "parameters" not in upload  # an HttpBody stream has no query fields
    assert {"201", "400", "401", "413", "415"} <= set(upload["responses"])
    assert "200" not in upload["responses"]


def test_rpcs_without_a_rest_face_are_left_out(extended: dict[str, Any]) -> None:
    operations = [op["operationId"] for path in extended["paths"].values() for op in path.values()]
    assert "PushScratch" not in operations
    assert {"CreateScratch", "DeleteScratch", "GetScratch"} <= set(operations)


def test_a_delete_answering_204_has_no_body(extended: dict[str, Any]) -> None:
    responses = extended["paths"]["/scratch/{jobId}"]["delete"]["responses"]
    assert "content" not in responses["204"]
    assert {"404", "409"} <= set(responses)


def test_nested_query_messages_become_dotted_parameters(extended: dict[str, Any]) -> None:
    parameters = extended["paths"]["/scratch/{jobId}"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters}
    assert set(by_name) == {"jobId", "convert.format", "convert.quality", "inline"}
    assert by_name["jobId"]["in"] == "path"
    assert by_name["convert.format"]["description"] == '"png" or "webp".'
    assert by_name["convert.quality"]["schema"]["maximum"] == 2**31 - 1


def test_server_limits_come_from_the_servers_constants() -> None:
    document = committed()
    paths = document["paths"]
    job_id = paths["/jobs/{jobId}"]["get"]["parameters"][0]["schema"]
    assert job_id["pattern"] == f"^(?:{JOB_ID.pattern.strip('^$')})$"
    listing = {p["name"]: p["schema"] for p in paths["/jobs"]["get"]["parameters"]}
    assert listing["limit"]["minimum"] == 0 and listing["offset"]["minimum"] == 0
    assert listing["limit"]["maximum"] == MAX_PAGE
    assert listing["status"]["enum"] == ["", *(s.value for s in JobStatus)]
    schemas = document["components"]["schemas"]
    assert schemas["CreateJobRequest"]["required"] == ["workflowId"]
    assert schemas["CreateWorkflowRequest"]["properties"]["name"]["maxLength"] == MAX_NAME_LENGTH
    assert schemas["Job"]["properties"]["status"]["enum"] == [s.value for s in JobStatus]


def test_every_operation_lists_the_edge_and_guard_answers() -> None:
    for path, operations in committed()["paths"].items():
        for verb, operation in operations.items():
            answers = set(operation["responses"])
            assert {"400", "414", "429", "431", "500", "503"} <= answers, (verb, path)
            guarded = operation.get("security") != [{}]
            assert ("401" in answers) == guarded, (verb, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= answers, (verb, path)
    create_job = committed()["paths"]["/jobs"]["post"]["responses"]
    assert "404" in create_job  # an unknown workflow
    assert "403" in committed()["paths"]["/audit"]["get"]["responses"]
    assert "403" not in committed()["paths"]["/jobs"]["get"]["responses"]


def test_a_body_leaves_out_the_fields_its_path_binds(extended: dict[str, Any]) -> None:
    body = extended["paths"]["/scratch/{jobId}"]["put"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"]
    schema = extended["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"name"}
    update = committed()["components"]["schemas"]["UpdateWorkflowRequestBody"]
    assert "id" not in update["properties"] and "name" in update["properties"]
