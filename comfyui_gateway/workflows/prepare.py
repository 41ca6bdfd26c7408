"""From a stored workflow and a job's raw inputs to the graph ComfyUI will run."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from comfyui_gateway.workflows.inputs import InputLimits, ResolvedInputs, resolve_inputs
from comfyui_gateway.workflows.schema import parse_input_schema
from comfyui_gateway.workflows.template import render
from comfyui_gateway.workflows.values import normalize_numbers


@dataclass(frozen=True)
class PreparedPrompt:
    """Resolved inputs (to record on the job) and the rendered ComfyUI graph."""

    inputs: ResolvedInputs
    graph: dict[str, Any]


def prepare_prompt(
    workflow_json: Mapping[str, Any],
    input_schema: Mapping[str, Any] | None,
    default_params: Mapping[str, Any] | None,
    inputs: Mapping[str, Any] | None,
    limits: InputLimits,
    *,
    rng: random.Random | None = None,
) -> PreparedPrompt:
    """Resolve ``inputs`` and render the graph; ``ValidationError`` names bad fields.

    Usage (job creation)::

        prepared = prepare_prompt(wf.workflow_json, wf.input_schema, wf.default_params,
                                  request_inputs, InputLimits(s.MAX_IMAGE_SIZE, s.MAX_BATCH_SIZE))
    """
    schema = parse_input_schema(dict(input_schema or {}))
    resolved = resolve_inputs(schema, dict(default_params or {}), inputs, limits, rng=rng)
    graph = render(normalize_numbers(dict(workflow_json)), resolved.values)
    return PreparedPrompt(inputs=resolved, graph=graph)
