"""Envoy's REST route table, derived from the protos' ``google.api.http`` rules.

The descriptor set the transcoder reads (``make proto``) is also the one list of REST
paths: for every rule of the transcoded services this module renders one Envoy route
per (method, path), a 415 route in front of each JSON-body route, one 405 route per
path (with ``Allow``) and the closed native-gRPC paths. What each route does comes
from a *route template* in ``envoy.yaml``: the entries named ``gw.<kind>`` (see
``TEMPLATE_KINDS``), which stand where the rendered table goes. Hand-written routes
(before or after the templates) are kept as they are.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

TEMPLATE_PREFIX = "gw."
TEMPLATE_KINDS = (
    "grpc_native",
    "unsupported_media_type",
    "read",
    "stream",
    "download",
    "retried_write",
    "write",
    "method_not_allowed",
    "not_found",
)
# Writes Envoy may resend after a reset: creations are keyed by x-request-id on the
# server (comfyui_gateway/jobs/idempotency.py), so a resend never makes a second job.
RETRIED_WRITES = frozenset({"comfyui_gateway.v1.JobService.CreateJob"})
# Routes whose bodies are raw bytes or forms, not JSON: no 415 in front of them.
# Request messages of type google.api.HttpBody are found on their own; list other
# raw-body paths here (e.g. "/uploads" taking multipart/form-data).
RAW_BODY_PATH_PREFIXES: tuple[str, ...] = ("/uploads",)
HTTP_BODY = ".google.api.HttpBody"
# Native gRPC paths on the REST port: closed unless EDGE_GRPC_PASSTHROUGH.
GRPC_NATIVE_PREFIXES = ("/comfyui_gateway.", "/grpc.")
JSON_CONTENT_TYPE = r"(?i)\s*application/([a-z0-9.+-]*\+)?json\s*(;.*)?"
# In the 405 template's Lua: replaced by the path's methods (the Allow header).
ALLOW_PLACEHOLDER = "%ALLOW%"
_VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class HttpBinding:
    """One ``google.api.http`` rule of one RPC."""

    rpc: str
    """Full method name, ``package.Service.Method``."""
    verb: str
    """HTTP method, upper case."""
    template: str
    has_body: bool
    raw_body: bool
    server_streaming: bool
    streams_bytes: bool

    @property
    def kind(self) -> str:
        """Which route template this binding takes."""
        if self.verb == "GET":
            if self.server_streaming:
                return "download" if self.streams_bytes else "stream"
            return "read"
        return "retried_write" if self.rpc in RETRIED_WRITES else "write"

    @property
    def path_regex(self) -> str:
        return path_regex(self.template)


def path_regex(template: str) -> str:
    """An RE2 full-match for a path template: ``{x}`` is one segment, ``{x=**}`` several."""
    parts: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        pattern = match.group(2) or "*"
        # ``**`` may be empty: ``/ui/`` is ``/ui/{path=**}`` with path "" (the console page).
        parts.append(".*" if "**" in pattern else "[^/]+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return "".join(parts).replace("\\/", "/").replace("\\-", "-")


def read_bindings(descriptor: Path, services: Iterable[str]) -> list[HttpBinding]:
    """Every HTTP rule (with additional bindings) of ``services`` in the descriptor set."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes()).file
    wanted = set(services)
    bindings: list[HttpBinding] = []
    for file in files:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            if name in wanted:
                for method in service.method:
                    bindings.extend(_method_bindings(name, method))
    return bindings


def _method_bindings(
    service: str, method: descriptor_pb2.MethodDescriptorProto
) -> list[HttpBinding]:
    if not method.options.HasExtension(annotations_pb2.http):
        return []
    rule = method.options.Extensions[annotations_pb2.http]
    rules = [rule, *rule.additional_bindings]
    return [
        binding
        for each in rules
        if (binding := _binding(f"{service}.{method.name}", each, method)) is not None
    ]


def _binding(
    rpc: str, rule: http_pb2.HttpRule, method: descriptor_pb2.MethodDescriptorProto
) -> HttpBinding | None:
    pattern = rule.WhichOneof("pattern")
    if pattern in _VERBS:
        verb, template = pattern.upper(), str(getattr(rule, pattern))
    elif pattern == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        return None
    raw = method.input_type == HTTP_BODY or template.startswith(RAW_BODY_PATH_PREFIXES)
    return HttpBinding(
        rpc=rpc,
        verb=verb,
        template=template,
        has_body=bool(rule.body),
        raw_body=raw,
        server_streaming=method.server_streaming,
        streams_bytes=method.output_type == HTTP_BODY,
    )


def render_routes(
    routes: Sequence[dict[str, Any]],
    bindings: Sequence[HttpBinding],
    *,
    grpc_passthrough: bool,
) -> list[dict[str, Any]]:
    """``routes`` with the ``gw.*`` templates replaced by the table for ``bindings``."""
    templates = {
        route["name"][len(TEMPLATE_PREFIX) :]: route for route in routes if _is_template(route)
    }
    missing = set(TEMPLATE_KINDS) - set(templates)
    if missing:
        raise ValueError(f"envoy.yaml lacks the route templates {sorted(missing)}")
    first = next(i for i, route in enumerate(routes) if _is_template(route))
    before = [route for route in routes[:first] if not _is_template(route)]
    after = [route for route in routes[first:] if not _is_template(route)]
    table = [
        *_grpc_native_routes(templates["grpc_native"], grpc_passthrough),
        *_media_type_routes(templates["unsupported_media_type"], bindings),
        *(_binding_route(templates[binding.kind], binding) for binding in _ordered(bindings)),
        *_method_not_allowed_routes(templates["method_not_allowed"], bindings),
    ]
    return [*before, *table, *after, _named(templates["not_found"], "not_found")]


def _is_template(route: dict[str, Any]) -> bool:
    return str(route.get("name", "")).startswith(TEMPLATE_PREFIX)


def allowed_methods(bindings: Sequence[HttpBinding], template: str) -> list[str]:
    """The methods a path answers, HEAD wherever GET is (the ``Allow`` header)."""
    verbs = {binding.verb for binding in bindings if binding.template == template}
    if "GET" in verbs:
        verbs.add("HEAD")
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    return sorted(verbs, key=lambda verb: order.index(verb) if verb in order else len(order))


def _ordered(bindings: Sequence[HttpBinding]) -> list[HttpBinding]:
    """Templates with a multi-segment variable last, so they never shadow exact ones."""
    return sorted(bindings, key=lambda binding: "**" in binding.template)


def _named(template: dict[str, Any], name: str) -> dict[str, Any]:
    route = copy.deepcopy(template)
    route["name"] = name
    return route


def _method_matcher(verb: str) -> dict[str, Any]:
    if verb == "GET":
        return {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}
    return {"name": ":method", "string_match": {"exact": verb}}


def _binding_route(template: dict[str, Any], binding: HttpBinding) -> dict[str, Any]:
    route = _named(template, f"{binding.rpc} {binding.verb}")
    route["match"] = {
        "safe_regex": {"regex": binding.path_regex},
        "headers": [_method_matcher(binding.verb)],
    }
    return route


def _media_type_routes(
    template: dict[str, Any], bindings: Sequence[HttpBinding]
) -> list[dict[str, Any]]:
    """415 for a body that says it is not JSON, on every JSON-body route."""
    routes = []
    for binding in bindings:
        if binding.has_body and not binding.raw_body:
            route = _named(template, f"{binding.rpc} {binding.verb} 415")
            not_json = {
                "name": "content-type",
                "string_match": {"safe_regex": {"regex": JSON_CONTENT_TYPE}},
                "invert_match": True,
            }
            route["match"] = {
                "safe_regex": {"regex": binding.path_regex},
                "headers": [_method_matcher(binding.verb), not_json],
            }
            routes.append(route)
    return routes


def _method_not_allowed_routes(
    template: dict[str, Any], bindings: Sequence[HttpBinding]
) -> list[dict[str, Any]]:
    routes = []
    for path in dict.fromkeys(binding.template for binding in _ordered(bindings)):
        route = _named(template, f"{path} 405")
        route["match"] = {"safe_regex": {"regex": path_regex(path)}}
        lua = route["typed_per_filter_config"]["envoy.filters.http.lua"]["source_code"]
        lua["inline_string"] = lua["inline_string"].replace(
            ALLOW_PLACEHOLDER, ", ".join(allowed_methods(bindings, path))
        )
        routes.append(route)
    return routes


def _grpc_native_routes(template: dict[str, Any], passthrough: bool) -> list[dict[str, Any]]:
    """Native gRPC on the REST port: 404 by default, forwarded when configured."""
    routes = []
    for prefix in GRPC_NATIVE_PREFIXES:
        route = _named(template, f"grpc {prefix}")
        route["match"] = {"prefix": prefix}
        if passthrough:
            route.pop("typed_per_filter_config", None)
            route["route"] = {"cluster": "grpc_server", "timeout": "0s"}
        routes.append(route)
    return routes
