"""The protos as the OpenAPI generator reads them: a descriptor set with comments, and an
index of its messages, enums, comments and HTTP routes."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gen_protos import PROTO_DIR, include_paths
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

HTTP_VERBS = ("get", "put", "post", "delete", "patch")
OWN_PACKAGE_DIR = "comfyui_gateway/"
# Paths into a FileDescriptorProto's source info (descriptor.proto field numbers).
MESSAGE_TYPE, NESTED_TYPE, FIELD, SERVICE, METHOD = 4, 3, 2, 6, 2


def descriptor_set(proto_dir: Path = PROTO_DIR) -> descriptor_pb2.FileDescriptorSet:
    """Every proto under ``proto_dir`` and its imports, with comments (source info)."""
    sources = sorted(str(p.relative_to(proto_dir)) for p in proto_dir.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        argv = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}"]
        argv += [f"-I{path}" for path in include_paths() if Path(path) != proto_dir]
        argv += ["--include_imports", "--include_source_info", f"--descriptor_set_out={out}"]
        subprocess.run([*argv, *sources], check=True)
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def json_name(field: descriptor_pb2.FieldDescriptorProto) -> str:
    """The lowerCamelCase name Envoy's transcoder prints and reads."""
    if field.json_name:
        return field.json_name
    return camel(field.name)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def file_comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Leading (else trailing) comment of each commented element, one line each."""
    found: dict[tuple[int, ...], str] = {}
    for location in file.source_code_info.location:
        text = location.leading_comments or location.trailing_comments
        if text.strip():
            found[tuple(location.path)] = " ".join(text.split())
    return found


@dataclass(frozen=True)
class Route:
    """One RPC with a ``google.api.http`` rule: what an OpenAPI operation is made from."""

    package: str
    service: descriptor_pb2.ServiceDescriptorProto
    method: descriptor_pb2.MethodDescriptorProto
    rule: http_pb2.HttpRule
    doc: str
    verb: str
    template: str
    binding: int = 0
    """0 for the method's rule, 1.. for its ``additional_bindings``."""

    @property
    def operation_id(self) -> str:
        return self.method.name + (str(self.binding + 1) if self.binding else "")

    @property
    def tag(self) -> str:
        return self.service.name.removesuffix("Service")

    @property
    def path(self) -> str:
        """``/jobs/{job_id}`` -> ``/jobs/{jobId}``."""
        return re.sub(
            r"\{([^}]+)\}", lambda m: "{" + camel(m.group(1).split("=")[0]) + "}", self.template
        )

    @property
    def bound(self) -> list[str]:
        """Proto fields bound by the path template, in order."""
        return [m.split("=")[0] for m in re.findall(r"\{([^}]+)\}", self.template)]

    @property
    def has_body(self) -> bool:
        return bool(self.rule.body)


def verb_and_template(rule: http_pb2.HttpRule) -> tuple[str, str]:
    for verb in HTTP_VERBS:
        value: str = getattr(rule, verb)
        if value:
            return verb, value
    if rule.HasField("custom"):
        return rule.custom.kind.lower(), rule.custom.path
    raise ValueError(f"unsupported http rule: {rule}")


class ProtoIndex:
    """Messages, enums and comments of a descriptor set, by full name (``.pkg.Name``)."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.files = list(files.file)
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.message_docs: dict[str, str] = {}
        self.field_docs: dict[tuple[str, str], str] = {}
        self.enums: dict[str, list[str]] = {}
        for file in self.files:
            comments = file_comments(file)
            for index, message in enumerate(file.message_type):
                self._index_message(f".{file.package}", message, (MESSAGE_TYPE, index), comments)
            for enum in file.enum_type:
                self.enums[f".{file.package}.{enum.name}"] = [v.name for v in enum.value]

    def _index_message(
        self,
        scope: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        comments: dict[tuple[int, ...], str],
    ) -> None:
        full = f"{scope}.{message.name}"
        self.messages[full] = message
        if path in comments:
            self.message_docs[full] = comments[path]
        for index, field in enumerate(message.field):
            doc = comments.get((*path, FIELD, index))
            if doc:
                self.field_docs[(full, field.name)] = doc
        for index, nested in enumerate(message.nested_type):
            self._index_message(full, nested, (*path, NESTED_TYPE, index), comments)
        for enum in message.enum_type:
            self.enums[f"{full}.{enum.name}"] = [v.name for v in enum.value]

    def is_map(self, field: descriptor_pb2.FieldDescriptorProto) -> bool:
        entry = self.messages.get(field.type_name)
        return entry is not None and entry.options.map_entry

    def own_services(self) -> Iterator[tuple[descriptor_pb2.FileDescriptorProto, int]]:
        for file in self.files:
            if file.name.startswith(OWN_PACKAGE_DIR):
                for index in range(len(file.service)):
                    yield file, index

    def routes(self) -> Iterator[Route]:
        """Every RPC of the gateway's own protos that has a REST face (others are gRPC-only)."""
        for file, s_index in self.own_services():
            comments = file_comments(file)
            service = file.service[s_index]
            for m_index, method in enumerate(service.method):
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                top = method.options.Extensions[annotations_pb2.http]
                doc = comments.get((SERVICE, s_index, METHOD, m_index), "")
                for binding, rule in enumerate((top, *top.additional_bindings)):
                    verb, template = verb_and_template(rule)
                    yield Route(file.package, service, method, rule, doc, verb, template, binding)
