"""A workflow as registered: id, names, graph, schema, defaults, checked as one whole.

``validate_definition`` is the single gate for ``POST``/``PUT /workflows``, the CLI's
``add-workflow`` and the bundled workflows: it normalises numbers (protobuf ``Struct``
sends ``0.0`` for a link index), checks the schema, ``defaultParams`` and the graph
together, and reports every problem in one ``ValidationError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.graph import check_graph
from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.schema import (
    InputSchema,
    effective_fields,
    parse_input_schema,
    read_input_schema,
)
from comfyui_gateway.workflows.values import normalize_numbers

WORKFLOW_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""Ids appear in URL paths and file names: keep them to safe characters. No dots: a
workflow added by the CLI must be one REST can read (``/workflows/{id}`` paths)."""
MAX_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 20_000
"""Descriptions are echoed by every workflow answer: bounded like any free text."""


@dataclass(frozen=True)
class WorkflowDefinition:
    """Everything that defines a workflow (the columns of ``workflows`` minus bookkeeping)."""

    id: str
    name: str
    workflow_json: dict[str, Any]
    input_schema: dict[str, Any] = field(default_factory=dict)
    default_params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def validate_definition(
    definition: WorkflowDefinition, catalogue: NodeCatalogue | None = None
) -> WorkflowDefinition:
    """Check the whole definition; return it normalised (integral floats -> ints).
    Raises ``ValidationError`` listing every problem."""
    problems = Problems()
    if not isinstance(definition.id, str) or not WORKFLOW_ID_PATTERN.fullmatch(definition.id):
        problems.add("id", "must be 1-128 characters of letters, digits, '_', '.', '-'")
    if not isinstance(definition.name, str) or not definition.name.strip():
        problems.add("name", "is required")
    elif len(definition.name) > MAX_NAME_LENGTH:
        problems.add("name", f"must be at most {MAX_NAME_LENGTH} characters")
    if not isinstance(definition.description, str):
        problems.add("description", "must be a string")
    elif len(definition.description) > MAX_DESCRIPTION_LENGTH:
        problems.add("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")

    graph = normalize_numbers(definition.workflow_json)
    raw_schema = normalize_numbers(definition.input_schema or {})
    default_params = normalize_numbers(definition.default_params or {})
    schema = read_input_schema(raw_schema, problems)
    if not isinstance(default_params, dict):
        problems.add("defaultParams", "must be an object")
        default_params = {}
    fields = effective_fields(schema, default_params, problems)
    problems.extend(check_graph(graph, fields, catalogue))
    problems.raise_if_any("Invalid workflow")
    return WorkflowDefinition(
        id=definition.id,
        name=definition.name.strip(),
        description=definition.description,
        workflow_json=graph,
        input_schema=raw_schema,
        default_params=default_params,
    )


def parsed_schema(definition: WorkflowDefinition) -> InputSchema:
    """The parsed schema of an already validated definition."""
    return parse_input_schema(definition.input_schema)
