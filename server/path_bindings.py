"""Path variables may not be overridden by a query parameter or a body field.

Envoy's transcoder fills a request message from the path template, then from the query
string, then from the body, so ``DELETE /workflows/a?id=b`` would delete ``b``. The
transcoder keeps the client's path (query included) in ``x-envoy-original-path`` (it
overwrites any copy the client sent); this module compares it with the message the
server received:

- a query parameter naming a path-bound field (``job_id`` or ``jobId``) is refused;
- a path-bound field whose value differs from the path's (a body ``{"id": "y"}`` on
  ``PUT /workflows/x``) is refused. A body repeating the path's value changes nothing and
  is accepted (clients that PUT back what they GET).

The path-bound fields come from the ``google.api.http`` annotations of every service in
the descriptors, so a new route is covered without a list to keep. A direct gRPC call
has no original path and is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from comfyui_gateway.errors import ValidationError

ORIGINAL_PATH_KEY = "x-envoy-original-path"
ORIGINAL_METHOD_KEY = "x-envoy-original-method"
_VARIABLE = re.compile(r"\{([A-Za-z0-9_.]+)(?:=([^}]*))?\}")
_HTTP_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Binding:
    """One HTTP rule of one method: its verb, a matcher for its path, its variables."""

    verb: str
    pattern: re.Pattern[str]
    fields: tuple[str, ...]
    """Proto field paths bound by the path, in template order (``job_id``)."""

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return dict(zip(self.fields, found.groups(), strict=True))


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """``/jobs/{job_id}/logs`` -> a regex with one group per variable, and the variables."""
    fields: list[str] = []
    pattern = ""
    position = 0
    for variable in _VARIABLE.finditer(template):
        pattern += re.escape(template[position : variable.start()])
        sub = variable.group(2) or "*"
        pattern += "(.+)" if "**" in sub else "([^/]+)"
        fields.append(variable.group(1))
        position = variable.end()
    pattern += re.escape(template[position:])
    return re.compile(pattern), tuple(fields)


def _rules(rule: http_pb2.HttpRule) -> Iterable[http_pb2.HttpRule]:
    yield rule
    yield from rule.additional_bindings


def method_bindings(method: MethodDescriptor) -> tuple[Binding, ...]:
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    bindings: list[Binding] = []
    for each in _rules(rule):
        verb = each.WhichOneof("pattern")
        if verb in _HTTP_VERBS:
            pattern, fields = compile_template(getattr(each, verb))
            bindings.append(Binding(verb.upper(), pattern, fields))
    return tuple(bindings)


def json_name(name: str) -> str:
    """``job_id`` -> ``jobId``, as the transcoder spells JSON names."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def query_names(field: str) -> frozenset[str]:
    """The query parameter names the transcoder maps onto ``field`` (snake or camel)."""
    parts = field.split(".")
    return frozenset({field, ".".join(json_name(part) for part in parts)})


def _field_value(message: Any, field: str) -> Any:
    value = message
    for part in field.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _path_spellings(raw: str) -> set[str]:
    """What the transcoder may have decoded a path segment into (all, or all but '/')."""
    keep_slash = unquote(re.sub("%2[Ff]", "%252F", raw))
    return {raw, unquote(raw), keep_slash}


class PathBindings:
    """Every method's HTTP bindings, read lazily from the descriptor pool (so any service
    the server registers is covered, including ones added later)."""

    def __init__(self, pool: descriptor_pool.DescriptorPool | None = None) -> None:
        self._pool = pool or descriptor_pool.Default()
        self._by_method: dict[str, tuple[Binding, ...]] = {}

    def bindings(self, method: str) -> tuple[Binding, ...]:
        """The bindings of ``/pkg.Service/Method`` (none for unknown or unannotated ones)."""
        if method not in self._by_method:
            self._by_method[method] = self._read(method)
        return self._by_method[method]

    def _read(self, method: str) -> tuple[Binding, ...]:
        service_name, _, method_name = method.strip("/").partition("/")
        try:
            service = self._pool.FindServiceByName(service_name)
        except KeyError:
            return ()
        found = service.methods_by_name.get(method_name)
        return method_bindings(found) if found is not None else ()

    def check(self, method: str, metadata: Mapping[str, str], request: Any) -> None:
        """Raise ValidationError when a query parameter or body field collides with the path."""
        original = metadata.get(ORIGINAL_PATH_KEY)
        if not original:
            return  # a direct gRPC call: nothing can collide
        path, _, query = original.partition("?")
        verb = metadata.get(ORIGINAL_METHOD_KEY, "").upper()
        for binding in self.bindings(method):
            if verb and verb not in (binding.verb, "HEAD" if binding.verb == "GET" else ""):
                continue
            values = binding.match(path)
            if values is not None:
                _check_binding(values, query, request)
                return


def _check_binding(values: Mapping[str, str], query: str, request: Any) -> None:
    given = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    for field, raw in values.items():
        names = query_names(field)
        clash = sorted(names & given)
        if clash:
            raise collision(field, f"must not also be given as the query parameter '{clash[0]}'")
        value = _field_value(request, field)
        if isinstance(value, str) and value not in _path_spellings(raw):
            raise collision(field, "must not also be given in the body with another value")


def collision(field: str, rule: str) -> ValidationError:
    name = json_name(field)
    return ValidationError(
        f"{name} is taken from the URL path and {rule}",
        details=[{"field": name, "message": f"path parameter; {rule}"}],
    )
