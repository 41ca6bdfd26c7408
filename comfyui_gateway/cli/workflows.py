"""``add-workflow`` and ``list-workflows``: workflow admin from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comfyui_gateway.config import Settings
from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.migrate import migrate
from comfyui_gateway.db.models.workflow import Workflow
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.errors import ValidationError
from comfyui_gateway.workflows.admin import WorkflowAdmin
from comfyui_gateway.workflows.definition import WorkflowDefinition

CLI_ACTOR = "cli"


def read_json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{what} {path}: expected a JSON object")
    return data


async def add_workflow(
    settings: Settings,
    workflow_file: Path,
    *,
    workflow_id: str,
    name: str | None,
    schema_file: Path | None,
    description: str,
    replace: bool,
) -> Workflow:
    definition = WorkflowDefinition(
        id=workflow_id,
        name=name or workflow_id,
        description=description,
        workflow_json=read_json_file(workflow_file, "workflow"),
        input_schema=read_json_file(schema_file, "schema") if schema_file else {},
    )
    await migrate(settings.DATABASE_URL)
    engine = create_engine(settings.DATABASE_URL)
    try:
        admin = WorkflowAdmin(create_session_factory(engine))
        if replace:
            async with create_session_factory(engine)() as session:
                exists = await WorkflowRepository(session).find(workflow_id) is not None
            if exists:
                changes = {
                    "name": definition.name,
                    "description": definition.description,
                    "workflow_json": definition.workflow_json,
                    "input_schema": definition.input_schema,
                }
                return await admin.update(workflow_id, changes, actor=CLI_ACTOR)
        return await admin.create(definition, actor=CLI_ACTOR)
    finally:
        await engine.dispose()


async def list_workflows(settings: Settings) -> list[Workflow]:
    await migrate(settings.DATABASE_URL)
    engine = create_engine(settings.DATABASE_URL)
    try:
        async with create_session_factory(engine)() as session:
            return list(await WorkflowRepository(session).list())
    finally:
        await engine.dispose()
