"""Generate the OpenAPI 3.1 document of the REST surface from proto/.

Run through ``make clients`` (``scripts/gen_clients.py``). The protos are the one
contract: paths, methods and parameters come from their ``google.api.http``
annotations, schemas from their messages (as Envoy's transcoder prints them:
lowerCamelCase, zero values present, unset messages and ``optional`` fields omitted,
64-bit integers as strings), descriptions from their comments. What the protos cannot
say is taken from the one place that decides it:

- success statuses other than 200 are the 2xx numbers a method's comment states
  ("REST answers 201"), which the server sends as ``x-gw-http-status``;
- error bodies are ``{"error": CODE, "message": ...}`` with the codes of
  ``comfyui_gateway.errors.ERROR_TABLE``;
- "Always open" in a method's comment means no credentials are needed.

The output is deterministic (sorted keys, fixed indentation) so a test can compare
the committed document with a fresh run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from gen_protos import PROTO_DIR, include_paths
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from comfyui_gateway import __version__
from comfyui_gateway.errors import ERROR_TABLE, ErrorCode

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = (ROOT / "clients" / "openapi.json", ROOT / "comfyui_gateway" / "openapi.json")

FieldType = descriptor_pb2.FieldDescriptorProto
WELL_KNOWN: dict[str, dict[str, Any]] = {
    ".google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    ".google.protobuf.Value": {},
    ".google.protobuf.ListValue": {"type": "array", "items": {}},
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Empty": {"type": "object"},
}
SCALARS: dict[int, dict[str, Any]] = {
    FieldType.TYPE_STRING: {"type": "string"},
    FieldType.TYPE_BOOL: {"type": "boolean"},
    FieldType.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldType.TYPE_DOUBLE: {"type": "number"},
    FieldType.TYPE_FLOAT: {"type": "number"},
    FieldType.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldType.TYPE_FIXED32: {"type": "integer", "format": "int32", "minimum": 0},
    # Envoy prints 64-bit integers as JSON strings.
    FieldType.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldType.TYPE_UINT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_FIXED64: {"type": "string", "format": "int64"},
}
# Success statuses a method's comment may state; the server sends them to the edge.
SUCCESS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}
# A request that is ``google.api.HttpBody`` (POST /uploads) takes the file itself, with
# its own Content-Type, or a multipart form whose ``file`` field holds it.
RAW_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "*/*": {"schema": {"type": "string", "format": "binary"}},
    },
}

# ``stream google.api.HttpBody`` answers that also have a JSON form, by method.
HTTPBODY_JSON_FORMS: dict[str, dict[str, Any]] = {
    "DownloadOutput": {"$ref": "#/components/schemas/OutputBase64"},
    "GetOpenApiDocument": {"type": "object"},
}
OPEN_MARKER = "Always open"


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """Every proto of proto/ and its imports, with comments (source info)."""
    sources = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        argv = [sys.executable, "-m", "grpc_tools.protoc"]
        argv += [f"-I{path}" for path in include_paths()]
        argv += ["--include_imports", "--include_source_info", f"--descriptor_set_out={out}"]
        subprocess.run([*argv, *sources], check=True)
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    found: dict[tuple[int, ...], str] = {}
    for location in file.source_code_info.location:
        text = location.leading_comments or location.trailing_comments
        if text.strip():
            found[tuple(location.path)] = " ".join(text.split())
    return found


def _json_name(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.json_name:
        return field.json_name
    head, *rest = field.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class OpenApiBuilder:
    """Turns a descriptor set into the OpenAPI document; ``build()`` is the entry point."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self._files = list(files.file)
        self._messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self._message_docs: dict[str, str] = {}
        self._field_docs: dict[tuple[str, str], str] = {}
        self._enums: dict[str, list[str]] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        for file in self._files:
            comments = _comments(file)
            for index, message in enumerate(file.message_type):
                self._index_message(f".{file.package}", message, (4, index), comments)
            for enum in file.enum_type:
                self._enums[f".{file.package}.{enum.name}"] = [v.name for v in enum.value]

    def _index_message(
        self,
        scope: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        comments: dict[tuple[int, ...], str],
    ) -> None:
        full = f"{scope}.{message.name}"
        self._messages[full] = message
        if path in comments:
            self._message_docs[full] = comments[path]
        for index, field in enumerate(message.field):
            doc = comments.get((*path, 2, index))
            if doc:
                self._field_docs[(full, field.name)] = doc
        for index, nested in enumerate(message.nested_type):
            self._index_message(full, nested, (*path, 3, index), comments)
        for enum in message.enum_type:
            self._enums[f"{full}.{enum.name}"] = [v.name for v in enum.value]

    # ---- schemas -------------------------------------------------------------------

    def _ref(self, type_name: str) -> dict[str, Any]:
        if type_name in WELL_KNOWN:
            return dict(WELL_KNOWN[type_name])
        if type_name in self._enums:
            return {"type": "string", "enum": self._enums[type_name]}
        name = type_name.rsplit(".", 1)[1]
        if name not in self._schemas:
            self._schemas[name] = {}  # placeholder first: recursive messages terminate
            self._schemas[name] = self._message_schema(type_name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _field_schema(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type in (FieldType.TYPE_MESSAGE, FieldType.TYPE_ENUM):
            entry = self._messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                return {
                    "type": "object",
                    "additionalProperties": self._field_schema(entry.field[1]),
                }
            schema = self._ref(field.type_name)
        else:
            schema = dict(SCALARS[field.type])
        if field.label == FieldType.LABEL_REPEATED:
            return {"type": "array", "items": schema}
        return schema

    def _message_schema(self, type_name: str) -> dict[str, Any]:
        message = self._messages[type_name]
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in message.field:
            schema = self._field_schema(field)
            doc = self._field_docs.get((type_name, field.name))
            if doc:
                schema = {**schema, "description": doc} if "$ref" not in schema else schema
            properties[_json_name(field)] = schema
            # Envoy prints every field without presence (scalars, repeated, maps) even
            # at its zero value; messages and `optional` fields appear only when set.
            has_presence = field.proto3_optional or (
                field.type == FieldType.TYPE_MESSAGE
                and field.label != FieldType.LABEL_REPEATED
                and not self._is_map(field)
            )
            if not has_presence:
                required.append(_json_name(field))
        result: dict[str, Any] = {"type": "object", "properties": properties}
        # Requests are input: every field may be left out.
        if required and not message.name.endswith("Request"):
            result["required"] = required
        if type_name in self._message_docs:
            result["description"] = self._message_docs[type_name]
        return result

    def _is_map(self, field: descriptor_pb2.FieldDescriptorProto) -> bool:
        entry = self._messages.get(field.type_name)
        return entry is not None and entry.options.map_entry

    # ---- operations ----------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        tags = []
        for file in self._files:
            if not file.name.startswith("comfyui_gateway/"):
                continue
            comments = _comments(file)
            for s_index, service in enumerate(file.service):
                tag = service.name.removesuffix("Service")
                tags.append({"name": tag, "description": f"gRPC {file.package}.{service.name}"})
                for m_index, method in enumerate(service.method):
                    if not method.options.HasExtension(annotations_pb2.http):
                        continue
                    rule = method.options.Extensions[annotations_pb2.http]
                    doc = comments.get((6, s_index, 2, m_index), "")
                    verb, template = _verb_and_path(rule)
                    path, bound = _openapi_path(template)
                    operation = self._operation(file.package, service, method, rule, doc, bound)
                    operation["tags"] = [tag]
                    paths.setdefault(path, {})[verb] = operation
        self._schemas["Error"] = _error_schema()
        self._schemas["OutputBase64"] = _base64_schema()
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "ComfyUI Gateway",
                "version": __version__,
                "description": (
                    "REST face of the gateway's gRPC services, transcoded by Envoy. "
                    "Generated from proto/ by scripts/gen_openapi.py; do not edit."
                ),
            },
            "servers": [{"url": "http://localhost:3000"}],
            "tags": sorted(tags, key=lambda t: t["name"]),
            "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}, {}],
            "paths": dict(sorted(paths.items())),
            "components": {
                "schemas": dict(sorted(self._schemas.items())),
                "securitySchemes": {
                    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                },
                "headers": _headers(),
                "responses": _error_responses(),
            },
        }

    def _operation(
        self,
        package: str,
        service: descriptor_pb2.ServiceDescriptorProto,
        method: descriptor_pb2.MethodDescriptorProto,
        rule: http_pb2.HttpRule,
        doc: str,
        bound: list[str],
    ) -> dict[str, Any]:
        request_type = self._messages[method.input_type]
        parameters: list[dict[str, Any]] = []
        fields = {field.name: field for field in request_type.field}
        for name in bound:
            schema = self._field_schema(fields[name])
            parameters.append(
                {"name": _json_name(fields[name]), "in": "path", "required": True, "schema": schema}
            )
        operation: dict[str, Any] = {
            "operationId": method.name,
            "summary": doc or method.name,
            "description": f"gRPC {package}.{service.name}/{method.name}",
        }
        if rule.body == "*" and method.input_type == ".google.api.HttpBody":
            operation["requestBody"] = RAW_BODY  # raw bytes, not JSON (POST /uploads)
        elif rule.body == "*":
            body_schema = self._ref(method.input_type)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        else:
            for field in request_type.field:
                # Query strings carry scalars and well-known types, not messages.
                nested = field.type == FieldType.TYPE_MESSAGE and field.type_name not in WELL_KNOWN
                if field.name in bound or nested:
                    continue
                schema = self._field_schema(field)
                doc_text = self._field_docs.get((method.input_type, field.name))
                parameter = {"name": _json_name(field), "in": "query", "schema": schema}
                if doc_text:
                    parameter["description"] = doc_text
                parameters.append(parameter)
        if parameters:
            operation["parameters"] = parameters
        verb, _ = _verb_and_path(rule)
        operation["responses"] = self._responses(
            method, doc, verb, has_target=bool(bound), has_body=rule.body == "*"
        )
        if OPEN_MARKER in doc:
            operation["security"] = [{}]
        return operation

    def _responses(
        self,
        method: descriptor_pb2.MethodDescriptorProto,
        doc: str,
        verb: str,
        *,
        has_target: bool,
        has_body: bool,
    ) -> dict[str, Any]:
        statuses = [int(code) for code in re.findall(r"\b(2\d\d)\b", doc)] or [200]
        content = self._response_content(method)
        headers = {
            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
            "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
            "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
        }
        responses: dict[str, Any] = {}
        for status in sorted(set(statuses)):
            answer: dict[str, Any] = {"description": SUCCESS_TEXT.get(status, "OK")}
            answer["headers"] = headers
            if status != 204:
                answer["content"] = content
            responses[str(status)] = answer
        errors = ["400", "401", "403", "429", "500", "503"]
        if has_target:
            errors.append("404")
        if verb != "get":  # a change can meet an existing id or a finished job
            errors.append("409")
        if has_body:
            errors.append("413")
        for error_status in sorted(errors):
            responses[error_status] = {"$ref": f"#/components/responses/{error_status}"}
        return responses

    def _response_content(self, method: descriptor_pb2.MethodDescriptorProto) -> dict[str, Any]:
        if method.output_type == ".google.api.HttpBody":
            content: dict[str, Any] = {
                "*/*": {"schema": {"type": "string", "contentMediaType": "*/*"}}
            }
            if method.name in HTTPBODY_JSON_FORMS:
                content["application/json"] = {"schema": HTTPBODY_JSON_FORMS[method.name]}
            return content
        schema = self._ref(method.output_type)
        if method.server_streaming:
            # Envoy prints each streamed message as one server-sent event, `data: {...}`;
            # x-event-data is the schema of that JSON.
            return {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "`data: <JSON>` per event"},
                    "x-event-data": schema,  # OpenAPI 3.2 calls it itemSchema
                }
            }
        return {"application/json": {"schema": schema}}


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    for verb in ("get", "post", "put", "delete", "patch"):
        value: str = getattr(rule, verb)
        if value:
            return verb, value
    raise ValueError(f"unsupported http rule: {rule}")


def _openapi_path(template: str) -> tuple[str, list[str]]:
    """``/jobs/{job_id}`` -> ``/jobs/{jobId}`` and the bound proto fields."""
    bound: list[str] = []

    def rename(match: re.Match[str]) -> str:
        name = match.group(1).split("=")[0]
        bound.append(name)
        head, *rest = name.split("_")
        return "{" + head + "".join(part.capitalize() for part in rest) + "}"

    return re.sub(r"\{([^}]+)\}", rename, template), bound


def _error_schema() -> dict[str, Any]:
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


def _base64_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "GET /outputs/{jobId}/{filename}?format=base64",
        "required": ["filename", "contentType", "size", "data"],
        "properties": {
            "filename": {"type": "string"},
            "contentType": {"type": "string"},
            "size": {"type": "integer"},
            "data": {"type": "string", "contentEncoding": "base64"},
        },
    }


def _headers() -> dict[str, Any]:
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
    }


def _error_responses() -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code, spec in ERROR_TABLE.items():
        by_status.setdefault(spec.http_status, []).append(code.value)
    responses: dict[str, Any] = {}
    for status, codes in sorted(by_status.items()):
        answer: dict[str, Any] = {
            "description": "Error: " + ", ".join(sorted(codes)),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status == 429:
            answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        responses[str(status)] = answer
    return responses


def render() -> str:
    """The document as committed: sorted, indented JSON with a final newline."""
    document = OpenApiBuilder(descriptor_set()).build()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    for output in OUTPUTS:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
