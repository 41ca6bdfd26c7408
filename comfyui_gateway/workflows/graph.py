"""Checking a workflow graph at registration, reporting every problem at once.

A graph is ComfyUI's API format: ``{node_id: {"class_type": str, "inputs": {...},
"_meta"?: {...}}}``. In ``inputs`` every list is a link ``[node_id, output_index]``
(that is how ComfyUI reads them), so links must be literal: a token there could let an
input rewire the graph. With a ``NodeCatalogue`` the check also covers node classes,
output indexes, required inputs, combo values and installed models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.schema import FieldSpec
from comfyui_gateway.workflows.template import TOKEN_PATTERN, iter_tokens, whole_token
from comfyui_gateway.workflows.values import as_integral

NODE_KEYS = frozenset({"class_type", "inputs", "_meta"})


def check_graph(
    graph: Any,
    fields: Mapping[str, FieldSpec],
    catalogue: NodeCatalogue | None = None,
    *,
    path: str = "workflowJson",
) -> Problems:
    """Every problem with ``graph`` given the job-settable ``fields`` (see
    ``schema.effective_fields``). Expects numbers already normalised."""
    problems = Problems()
    if not isinstance(graph, dict) or not graph:
        problems.add(path, "must be a non-empty object of node id -> node (ComfyUI API format)")
        return problems
    if isinstance(graph.get("nodes"), list) and "links" in graph:
        problems.add(
            path,
            "looks like a ComfyUI UI workflow; export it with 'Export (API)' instead",
        )
        return problems
    for node_id, node in graph.items():
        _check_node(graph, node_id, node, f"{path}.{node_id}", catalogue, problems)
    _check_tokens(graph, fields, catalogue, path, problems)
    _check_cycles(graph, path, problems)
    if catalogue is not None and not any(
        isinstance(node, dict) and node.get("class_type") in catalogue.output_nodes
        for node in graph.values()
    ):
        problems.add(path, "has no output node (e.g. SaveImage); ComfyUI would not run it")
    return problems


def validate_graph(
    graph: Any,
    fields: Mapping[str, FieldSpec],
    catalogue: NodeCatalogue | None = None,
    *,
    path: str = "workflowJson",
) -> None:
    """``check_graph`` that raises one ``ValidationError`` listing every problem."""
    check_graph(graph, fields, catalogue, path=path).raise_if_any("Invalid workflow")


def link_target(value: Any) -> tuple[str, int] | None:
    """``(node_id, output_index)`` if ``value`` is a well-formed link, else ``None``."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        index = as_integral(value[1])
        if index is not None and index >= 0:
            return value[0], index
    return None


def _check_node(
    graph: dict[str, Any],
    node_id: str,
    node: Any,
    path: str,
    catalogue: NodeCatalogue | None,
    problems: Problems,
) -> None:
    if not node_id or TOKEN_PATTERN.search(node_id):
        problems.add(path, "node ids must be non-empty and cannot contain {{tokens}}")
    if not isinstance(node, dict):
        problems.add(path, "must be an object with class_type and inputs")
        return
    class_type = node.get("class_type")
    if not isinstance(class_type, str) or not class_type:
        problems.add(f"{path}.class_type", "is missing or not a string")
        class_type = None
    elif TOKEN_PATTERN.search(class_type):
        problems.add(f"{path}.class_type", "cannot contain {{tokens}}")
        class_type = None
    elif catalogue is not None and not catalogue.has_class(class_type):
        problems.add(f"{path}.class_type", f"unknown node class '{class_type}'")
        class_type = None
    if "_meta" in node and not isinstance(node["_meta"], dict):
        problems.add(f"{path}._meta", "must be an object")
    inputs = node.get("inputs")
    if not isinstance(inputs, dict):
        problems.add(f"{path}.inputs", "is missing or not an object")
        return
    for name, value in inputs.items():
        input_path = f"{path}.inputs.{name}"
        if TOKEN_PATTERN.search(name):
            problems.add(input_path, "input names cannot contain {{tokens}}")
        if isinstance(value, list):
            _check_link(graph, value, input_path, catalogue, problems)
        elif isinstance(value, dict):
            problems.add(input_path, "objects are not valid input values")
        elif class_type is not None and catalogue is not None:
            _check_choice(class_type, name, value, input_path, catalogue, problems)
    if class_type is not None and catalogue is not None:
        for missing in sorted(catalogue.required_inputs.get(class_type, frozenset()) - set(inputs)):
            problems.add(f"{path}.inputs.{missing}", f"required input of {class_type} is missing")


def _check_link(
    graph: dict[str, Any],
    value: list[Any],
    path: str,
    catalogue: NodeCatalogue | None,
    problems: Problems,
) -> None:
    if any(True for _ in iter_tokens(value)):
        problems.add(path, "links cannot contain {{tokens}}")
        return
    target = link_target(value)
    if target is None:
        problems.add(path, 'a list is a link and must be ["node_id", output_index >= 0]')
        return
    target_id, index = target
    target_node = graph.get(target_id)
    if not isinstance(target_node, dict):
        problems.add(path, f"links to node '{target_id}', which does not exist")
        return
    target_class = target_node.get("class_type")
    if (
        catalogue is not None
        and isinstance(target_class, str)
        and catalogue.has_class(target_class)
    ):
        count = catalogue.output_count(target_class)
        if index >= count:
            problems.add(
                path,
                f"links to output {index} of node '{target_id}' ({target_class}), "
                f"which has {count} output(s)",
            )


def _check_choice(
    class_type: str,
    name: str,
    value: Any,
    path: str,
    catalogue: NodeCatalogue,
    problems: Problems,
) -> None:
    """Literal combo values must be offered; templated ones are checked in ``_check_tokens``."""
    choices = catalogue.choices_for(class_type, name)
    if choices is None or (isinstance(value, str) and TOKEN_PATTERN.search(value)):
        return
    if value not in choices:
        problems.add(path, _not_offered(class_type, name, value, choices))


def _not_offered(class_type: str, name: str, value: Any, choices: tuple[Any, ...]) -> str:
    shown = ", ".join(repr(c) for c in choices[:10]) + (", ..." if len(choices) > 10 else "")
    return f"{value!r} is not available for {class_type}.{name} (offered: {shown or 'none'})"


def _check_tokens(
    graph: dict[str, Any],
    fields: Mapping[str, FieldSpec],
    catalogue: NodeCatalogue | None,
    path: str,
    problems: Problems,
) -> None:
    for name, token_path in iter_tokens(graph):
        if name not in fields:
            problems.add(
                f"{path}.{token_path}",
                f"token {{{{{name}}}}} is not declared in inputSchema "
                "and has no defaultParams value",
            )
    if catalogue is None:
        return
    for node_id, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            continue
        class_type = node.get("class_type")
        if not isinstance(class_type, str):
            continue
        for input_name, value in node["inputs"].items():
            token = whole_token(value) if isinstance(value, str) else None
            choices = catalogue.choices_for(class_type, input_name)
            if token is None or choices is None or token not in fields:
                continue
            spec = fields[token]
            candidates = list(spec.enum or ())
            if spec.has_default and spec.default not in candidates:
                candidates.append(spec.default)
            for candidate in candidates:
                if candidate not in choices:
                    problems.add(
                        f"{path}.{node_id}.inputs.{input_name}",
                        f"{{{{{token}}}}} may be "
                        + _not_offered(class_type, input_name, candidate, choices),
                    )


def _check_cycles(graph: dict[str, Any], path: str, problems: Problems) -> None:
    """ComfyUI refuses cyclic graphs with an empty error; say which node loops."""
    edges: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        targets: list[str] = []
        if isinstance(inputs, dict):
            for value in inputs.values():
                target = link_target(value)
                if target is not None and target[0] in graph:
                    targets.append(target[0])
        edges[node_id] = targets
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in edges:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            current, next_edge = stack[-1]
            if next_edge < len(edges[current]):
                stack[-1] = (current, next_edge + 1)
                child = edges[current][next_edge]
                if state.get(child) == 1:
                    problems.add(f"{path}.{child}", "is part of a cycle of links")
                    return
                if child not in state:
                    state[child] = 1
                    stack.append((child, 0))
            else:
                state[current] = 2
                stack.pop()
