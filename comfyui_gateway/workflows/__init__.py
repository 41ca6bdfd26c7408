"""Workflow templates: schemas, graph checks, rendering, input resolution, bundled set.

The database-backed admin operations live in ``comfyui_gateway.workflows.admin``
(imported on demand, so this package stays free of SQLAlchemy for the worker's
rendering path).
"""

from comfyui_gateway.workflows.bundled import BUNDLED, load_bundled, load_bundled_workflow
from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.definition import WorkflowDefinition, validate_definition
from comfyui_gateway.workflows.graph import check_graph, validate_graph
from comfyui_gateway.workflows.inputs import InputLimits, ResolvedInputs, resolve_inputs
from comfyui_gateway.workflows.prepare import PreparedPrompt, prepare_prompt
from comfyui_gateway.workflows.schema import FieldSpec, InputSchema, parse_input_schema
from comfyui_gateway.workflows.template import find_tokens, render
from comfyui_gateway.workflows.values import normalize_numbers

__all__ = [
    "BUNDLED",
    "FieldSpec",
    "InputLimits",
    "InputSchema",
    "NodeCatalogue",
    "PreparedPrompt",
    "ResolvedInputs",
    "WorkflowDefinition",
    "check_graph",
    "find_tokens",
    "load_bundled",
    "load_bundled_workflow",
    "normalize_numbers",
    "parse_input_schema",
    "prepare_prompt",
    "render",
    "resolve_inputs",
    "validate_definition",
    "validate_graph",
]
