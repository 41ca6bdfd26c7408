"""Workflow rows: list, get, create, partial update, delete.

The repository checks existence and uniqueness; whether a graph and its schema make
sense is decided before it is called (``comfyui_gateway.workflows.admin``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.workflow import Workflow
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.errors import Conflict, ValidationError, WorkflowNotFound

UPDATABLE_FIELDS = frozenset(
    {"name", "description", "workflow_json", "input_schema", "default_params"}
)


class WorkflowRepository:
    """Workflow queries inside the caller's transaction (flushes, never commits).

    Usage::

        async with sessions() as session, session.begin():
            wf = await WorkflowRepository(session).get("sdxl_realism_v1")
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self) -> Sequence[Workflow]:
        """Every workflow, ordered by id (a stable order for listings and capabilities)."""
        with translate_db_errors():
            return (await self._session.scalars(select(Workflow).order_by(Workflow.id))).all()

    async def find(self, workflow_id: str) -> Workflow | None:
        """The workflow, or ``None``."""
        with translate_db_errors():
            return await self._session.get(Workflow, workflow_id)

    async def get(self, workflow_id: str) -> Workflow:
        """The workflow; raise ``WorkflowNotFound`` naming the id."""
        workflow = await self.find(workflow_id)
        if workflow is None:
            raise WorkflowNotFound(f"Workflow '{workflow_id}' not found")
        return workflow

    async def create(
        self,
        *,
        workflow_id: str,
        name: str,
        workflow_json: dict[str, Any],
        input_schema: dict[str, Any],
        default_params: dict[str, Any],
        description: str = "",
    ) -> Workflow:
        """Insert a workflow; ``Conflict`` if the id exists, even when another request
        inserts the same id between our check and our INSERT (the primary key decides)."""
        message = f"Workflow '{workflow_id}' already exists"
        if await self.find(workflow_id) is not None:
            raise Conflict(message)
        workflow = Workflow(
            id=workflow_id,
            name=name,
            description=description,
            workflow_json=workflow_json,
            input_schema=input_schema,
            default_params=default_params,
        )
        with translate_db_errors(conflict_message=message):
            self._session.add(workflow)
            await self._session.flush()
        return workflow

    async def update(
        self,
        workflow_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Workflow:
        """Apply a partial update; ``Conflict`` if ``expected_version`` (the ETag) is stale
        or another writer updated the row concurrently."""
        unknown = sorted(set(changes) - UPDATABLE_FIELDS)
        if unknown:
            raise ValidationError(
                f"Cannot update field(s): {', '.join(unknown)}",
                details=[{"field": f, "message": "not updatable"} for f in unknown],
            )
        workflow = await self.get(workflow_id)
        if expected_version is not None and workflow.version != expected_version:
            raise Conflict(
                f"Workflow '{workflow_id}' changed (version {workflow.version}, "
                f"expected {expected_version})"
            )
        if not changes:
            return workflow
        for field, value in changes.items():
            setattr(workflow, field, value)
        with translate_db_errors(conflict_message=f"Workflow '{workflow_id}' changed meanwhile"):
            await self._session.flush()
        return workflow

    async def delete(self, workflow_id: str) -> None:
        """Delete a workflow; ``WorkflowNotFound`` if there is none. Past jobs are kept."""
        with translate_db_errors():
            result = await self._session.execute(delete(Workflow).where(Workflow.id == workflow_id))
        if getattr(result, "rowcount", 0) == 0:
            raise WorkflowNotFound(f"Workflow '{workflow_id}' not found")
