"""One OpenAPI operation per HTTP rule: parameters (path, then query), request body,
responses and security, as Envoy's transcoder maps the request message."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import descriptor_pb2
from openapi_descriptors import Route, json_name
from openapi_responses import OPEN_MARKER, operation_responses
from openapi_schemas import HTTP_BODY, WELL_KNOWN, FieldType, SchemaBuilder

Schema = dict[str, Any]
HTTPBODY_JSON_FORMS: dict[str, Schema] = {
    "DownloadOutput": {"$ref": "#/components/schemas/OutputBase64"},
    "GetOpenApiDocument": {"type": "object"},
}
"""``google.api.HttpBody`` answers that also have a JSON form, by method."""
MULTIPART_FIELD = re.compile(r"multipart/form-data with the file in the field `(\w+)`")
"""How a raw-body method's comment names its multipart alternative."""
MAX_QUERY_DEPTH = 3


class OperationBuilder:
    """Builds operations; message schemas land in the shared ``SchemaBuilder``."""

    def __init__(self, schemas: SchemaBuilder) -> None:
        self.schemas = schemas
        self.index = schemas.index

    def operation(self, route: Route) -> Schema:
        operation: Schema = {
            "operationId": route.operation_id,
            "summary": route.doc or route.method.name,
            "description": f"gRPC {route.package}.{route.service.name}/{route.method.name}",
            "tags": [route.tag],
        }
        parameters = self.path_parameters(route) + self.query_parameters(route)
        if parameters:
            operation["parameters"] = parameters
        if route.has_body:
            operation["requestBody"] = self.request_body(route)
        operation["responses"] = operation_responses(route, self.response_content(route))
        if OPEN_MARKER in route.doc:
            operation["security"] = [{}]
        return operation

    def _fields(self, route: Route) -> dict[str, descriptor_pb2.FieldDescriptorProto]:
        message = self.index.messages[route.method.input_type]
        return {field.name: field for field in message.field}

    def path_parameters(self, route: Route) -> list[Schema]:
        fields = self._fields(route)
        return [
            {
                "name": json_name(fields[name]),
                "in": "path",
                "required": True,
                "schema": self._without_description(route.method.input_type, fields[name]),
            }
            for name in route.bound
        ]

    def query_parameters(self, route: Route) -> list[Schema]:
        """Fields neither in the path nor in the body: Envoy reads them from the query,
        nested messages as dotted names (``outputFormat.quality``)."""
        if route.rule.body == "*" or route.method.input_type == HTTP_BODY:
            return []
        skipped = {*route.bound, route.rule.body}
        return list(self._query_fields(route.method.input_type, "", skipped, 0))

    def _query_fields(
        self, type_name: str, prefix: str, skipped: set[str], depth: int
    ) -> list[Schema]:
        found: list[Schema] = []
        for field in self.index.messages[type_name].field:
            if not prefix and field.name in skipped:
                continue
            name = prefix + json_name(field)
            nested = field.type == FieldType.TYPE_MESSAGE and field.type_name not in WELL_KNOWN
            if nested:
                if self.index.is_map(field) or field.label == FieldType.LABEL_REPEATED:
                    continue  # not expressible as query values
                if depth < MAX_QUERY_DEPTH:
                    found += self._query_fields(field.type_name, name + ".", skipped, depth + 1)
                continue
            schema = self.schemas.field_schema(type_name, field)
            parameter: Schema = {"name": name, "in": "query", "schema": schema}
            if "description" in schema:
                parameter["description"] = schema.pop("description")
            found.append(parameter)
        return found

    def _without_description(
        self, owner: str, field: descriptor_pb2.FieldDescriptorProto
    ) -> Schema:
        schema = self.schemas.field_schema(owner, field)
        schema.pop("description", None)
        return schema

    def request_body(self, route: Route) -> Schema:
        """JSON for messages; raw bytes (and multipart, when the comment says so) for
        ``google.api.HttpBody``; a single field when the rule names one."""
        input_type = route.method.input_type
        if input_type == HTTP_BODY or (route.rule.body != "*" and self._body_is_httpbody(route)):
            content: Schema = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
            multipart = MULTIPART_FIELD.search(route.doc)
            if multipart:
                part = {"type": "string", "format": "binary"}
                content["multipart/form-data"] = {
                    "schema": {
                        "type": "object",
                        "required": [multipart.group(1)],
                        "properties": {multipart.group(1): part},
                    }
                }
            return {"required": True, "content": content}
        if route.rule.body == "*":
            schema = self.schemas.body_schema(input_type, set(route.bound))
        else:
            field = self._fields(route)[route.rule.body]
            schema = self.schemas.field_schema(input_type, field)
        # No body is an empty message: required only when the message has required fields.
        required = bool(self.schemas.resolve(schema).get("required"))
        return {"required": required, "content": {"application/json": {"schema": schema}}}

    def _body_is_httpbody(self, route: Route) -> bool:
        field = self._fields(route).get(route.rule.body)
        return field is not None and field.type_name == HTTP_BODY

    def response_content(self, route: Route) -> Schema:
        method = route.method
        if method.output_type == HTTP_BODY:
            content: Schema = {"*/*": {"schema": {"type": "string", "contentMediaType": "*/*"}}}
            if method.name in HTTPBODY_JSON_FORMS:
                content["application/json"] = {"schema": HTTPBODY_JSON_FORMS[method.name]}
            return content
        schema = self.schemas.ref(method.output_type)
        if method.server_streaming:
            return {"text/event-stream": {"schema": sse_event_schema(schema)}}
        return {"application/json": {"schema": schema}}


def sse_event_schema(message: Schema) -> Schema:
    """Envoy prints each streamed message as one server-sent event, ``data: {...}``. In
    OpenAPI 3.1 an event stream's ``schema`` describes one event (3.2 calls it
    ``itemSchema``); its ``data`` is JSON of ``message``."""
    return {
        "type": "object",
        "description": "One server-sent event per message: `data: <JSON>`.",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": message,
            },
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
