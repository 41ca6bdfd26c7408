"""JSON Schemas of proto messages as Envoy's transcoder prints and reads them:
lowerCamelCase names, zero values present, unset messages and ``optional`` fields
omitted, 64-bit integers as strings; plus the server's constraints
(``openapi_constraints``)."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2
from openapi_constraints import REQUIRED_FIELDS, field_constraints
from openapi_descriptors import ProtoIndex, json_name

Schema = dict[str, Any]
FieldType = descriptor_pb2.FieldDescriptorProto
HTTP_BODY = ".google.api.HttpBody"
WELL_KNOWN: dict[str, Schema] = {
    ".google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    ".google.protobuf.Value": {},
    ".google.protobuf.ListValue": {"type": "array", "items": {}},
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    ".google.protobuf.Empty": {"type": "object"},
    ".google.protobuf.StringValue": {"type": "string"},
    ".google.protobuf.BoolValue": {"type": "boolean"},
    ".google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    ".google.protobuf.DoubleValue": {"type": "number"},
}
INT32 = {"minimum": -(2**31), "maximum": 2**31 - 1}
UINT32 = {"minimum": 0, "maximum": 2**32 - 1}
SCALARS: dict[int, Schema] = {
    FieldType.TYPE_STRING: {"type": "string"},
    FieldType.TYPE_BOOL: {"type": "boolean"},
    FieldType.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldType.TYPE_DOUBLE: {"type": "number"},
    FieldType.TYPE_FLOAT: {"type": "number"},
    FieldType.TYPE_INT32: {"type": "integer", "format": "int32", **INT32},
    FieldType.TYPE_SINT32: {"type": "integer", "format": "int32", **INT32},
    FieldType.TYPE_SFIXED32: {"type": "integer", "format": "int32", **INT32},
    FieldType.TYPE_UINT32: {"type": "integer", "format": "int64", **UINT32},
    FieldType.TYPE_FIXED32: {"type": "integer", "format": "int64", **UINT32},
    # Envoy prints 64-bit integers as JSON strings.
    FieldType.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldType.TYPE_UINT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_FIXED64: {"type": "string", "format": "int64"},
}


def short_name(type_name: str) -> str:
    return type_name.rsplit(".", 1)[1]


def is_request(type_name: str) -> bool:
    """Request messages are input: the server's request constraints apply to them."""
    return short_name(type_name).endswith("Request")


class SchemaBuilder:
    """Message schemas, built on first use into ``components/schemas``."""

    def __init__(self, index: ProtoIndex) -> None:
        self.index = index
        self.components: dict[str, Schema] = {}

    def ref(self, type_name: str) -> Schema:
        """A schema for a message or enum type: inline when well-known, else a $ref."""
        if type_name in WELL_KNOWN:
            return dict(WELL_KNOWN[type_name])
        if type_name in self.index.enums:
            return {"type": "string", "enum": self.index.enums[type_name]}
        name = short_name(type_name)
        if name not in self.components:
            self.components[name] = {}  # placeholder first: recursive messages terminate
            self.components[name] = self.message_schema(type_name)
        return {"$ref": f"#/components/schemas/{name}"}

    def body_schema(self, type_name: str, bound: set[str]) -> Schema:
        """A ``body: "*"`` request: the message less the fields the path binds (a body
        repeating them is refused), as its own component ``<Message>Body``."""
        if not bound:
            return self.ref(type_name)
        whole = self.message_schema(type_name)
        fields = self.index.messages[type_name].field
        dropped = {json_name(f) for f in fields if f.name in bound}
        body: Schema = {
            **whole,
            "properties": {k: v for k, v in whole["properties"].items() if k not in dropped},
        }
        required = [name for name in whole.get("required", []) if name not in dropped]
        body.pop("required", None)
        if required:
            body["required"] = required
        name = f"{short_name(type_name)}Body"
        self.components[name] = body
        return {"$ref": f"#/components/schemas/{name}"}

    def resolve(self, schema: Schema) -> Schema:
        """The component a ``$ref`` names, or the schema itself."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.components[ref.rsplit("/", 1)[1]]
        return schema

    def field_schema(self, owner: str, field: descriptor_pb2.FieldDescriptorProto) -> Schema:
        """The field's schema with its comment and the server's constraints; in a request,
        a message field may also be ``null``, which protobuf JSON reads as "not given"
        (the transcoder accepts ``{"workflowJson": null}`` on a partial update)."""
        schema = self._constrained_schema(owner, field)
        if is_request(owner) and self.has_presence(field) and not field.proto3_optional:
            return {"anyOf": [schema, {"type": "null"}]}
        return schema

    def _constrained_schema(self, owner: str, field: descriptor_pb2.FieldDescriptorProto) -> Schema:
        schema = self._type_schema(field)
        extra = field_constraints(short_name(owner), field.name, request=is_request(owner))
        doc = self.index.field_docs.get((owner, field.name))
        if doc and "description" not in extra:
            extra["description"] = doc
        if not extra:
            return schema
        if "$ref" in schema:  # keywords beside a $ref would be ignored by older readers
            return {"allOf": [schema], **extra}
        if schema.get("type") == "array":
            return {
                **schema,
                "items": {**schema["items"], **_item_keywords(extra)},
                **_outer_keywords(extra),
            }
        return {**schema, **extra}

    def _type_schema(self, field: descriptor_pb2.FieldDescriptorProto) -> Schema:
        if field.type in (FieldType.TYPE_MESSAGE, FieldType.TYPE_ENUM):
            entry = self.index.messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                value = entry.field[1]
                return {"type": "object", "additionalProperties": self._type_schema(value)}
            schema = self.ref(field.type_name)
        else:
            schema = dict(SCALARS[field.type])
        if field.label == FieldType.LABEL_REPEATED:
            return {"type": "array", "items": schema}
        return schema

    def has_presence(self, field: descriptor_pb2.FieldDescriptorProto) -> bool:
        """Envoy prints every field without presence (scalars, repeated, maps) even at
        its zero value; messages and ``optional`` fields appear only when set."""
        return field.proto3_optional or (
            field.type == FieldType.TYPE_MESSAGE
            and field.label != FieldType.LABEL_REPEATED
            and not self.index.is_map(field)
        )

    def message_schema(self, type_name: str) -> Schema:
        message = self.index.messages[type_name]
        properties = {json_name(f): self.field_schema(type_name, f) for f in message.field}
        if is_request(type_name):
            by_name = {f.name: json_name(f) for f in message.field}
            required = [by_name[name] for name in REQUIRED_FIELDS.get(short_name(type_name), [])]
        else:
            required = [json_name(f) for f in message.field if not self.has_presence(f)]
        result: Schema = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        if type_name in self.index.message_docs:
            result["description"] = self.index.message_docs[type_name]
        return result


_ARRAY_KEYWORDS = {"description", "minItems", "maxItems"}


def _item_keywords(extra: Schema) -> Schema:
    return {k: v for k, v in extra.items() if k not in _ARRAY_KEYWORDS}


def _outer_keywords(extra: Schema) -> Schema:
    return {k: v for k, v in extra.items() if k in _ARRAY_KEYWORDS}
