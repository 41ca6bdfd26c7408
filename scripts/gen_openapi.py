"""Generate the OpenAPI 3.1 document of the REST surface from proto/.

Run through ``make clients`` (``scripts/gen_clients.py``). The protos are the one
contract: paths, methods and parameters come from their ``google.api.http``
annotations, schemas from their messages, descriptions from their comments. What the
protos cannot say is taken from the one place that decides it:

- ``openapi_descriptors``: reading the protos (descriptor set, comments, routes);
- ``openapi_schemas``: messages as Envoy's transcoder prints and reads them;
- ``openapi_constraints``: the ranges, patterns and enums the server enforces, read
  from the constants it checks against;
- ``openapi_operations``: parameters, request bodies (JSON, raw ``HttpBody``,
  multipart) and answer content of each route;
- ``openapi_responses``: every status an operation can answer (success statuses from
  the method's comment, "REST answers 201"; errors from ``ERROR_TABLE`` and the edge).

The output is deterministic (sorted keys, fixed indentation) so a test can compare
the committed document with a fresh run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from openapi_descriptors import ProtoIndex, descriptor_set
from openapi_operations import OperationBuilder
from openapi_responses import error_components, error_schema, error_statuses, header_components
from openapi_schemas import SchemaBuilder

from comfyui_gateway import __version__

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = (ROOT / "clients" / "openapi.json", ROOT / "comfyui_gateway" / "openapi.json")


def build(files: descriptor_pb2.FileDescriptorSet) -> dict[str, Any]:
    """The whole document for a descriptor set."""
    index = ProtoIndex(files)
    schemas = SchemaBuilder(index)
    operations = OperationBuilder(schemas)
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, str] = {}
    statuses: set[int] = set()
    for route in index.routes():
        paths.setdefault(route.path, {})[route.verb] = operations.operation(route)
        tags[route.tag] = f"gRPC {route.package}.{route.service.name}"
        statuses |= set(error_statuses(route))
    schemas.components["Error"] = error_schema()
    schemas.components["OutputBase64"] = base64_schema()
    return {
        "openapi": "3.1.0",
        "info": info(),
        "servers": [{"url": "http://localhost:3000"}],
        "tags": [{"name": name, "description": tags[name]} for name in sorted(tags)],
        "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}, {}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "headers": header_components(),
            "responses": error_components(statuses),
        },
    }


def info() -> dict[str, Any]:
    return {
        "title": "ComfyUI Gateway",
        "version": __version__,
        "description": (
            "REST face of the gateway's gRPC services, transcoded by Envoy. "
            "Generated from proto/ by scripts/gen_openapi.py; do not edit."
        ),
    }


def base64_schema() -> dict[str, Any]:
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


def render(files: descriptor_pb2.FileDescriptorSet | None = None) -> str:
    """The document as committed: sorted, indented JSON with a final newline."""
    document = build(files if files is not None else descriptor_set())
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    for output in OUTPUTS:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
