"""Admin changes to workflows: validate, write, audit, in one transaction each.

Failed attempts (validation, conflict, not found) are audited too, in a transaction of
their own, since the failed change's transaction is rolled back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.workflow import Workflow
from comfyui_gateway.db.queries.audit import OUTCOME_FAILURE, OUTCOME_SUCCESS, AuditLog
from comfyui_gateway.db.queries.workflows import UPDATABLE_FIELDS, WorkflowRepository
from comfyui_gateway.errors import GatewayError, ValidationError
from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.definition import WorkflowDefinition, validate_definition
from comfyui_gateway.workflows.recent import RecentWorkflows

T = TypeVar("T")

ACTION_CREATE = "workflow.create"
ACTION_UPDATE = "workflow.update"
ACTION_DELETE = "workflow.delete"


class WorkflowAdmin:
    """The admin operations behind ``POST/PUT/DELETE /workflows`` and the CLI.

    Usage::

        admin = WorkflowAdmin(sessions)
        wf = await admin.create(definition, actor="key:ops", catalogue=catalogue)
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], recent: RecentWorkflows | None = None
    ) -> None:
        self._sessions = sessions
        self._recent = recent

    async def create(
        self,
        definition: WorkflowDefinition,
        *,
        actor: str,
        catalogue: NodeCatalogue | None = None,
    ) -> Workflow:
        """Validate and insert; ``Conflict`` if the id exists."""

        async def run(session: AsyncSession) -> Workflow:
            checked = validate_definition(definition, catalogue)
            return await WorkflowRepository(session).create(
                workflow_id=checked.id,
                name=checked.name,
                description=checked.description,
                workflow_json=checked.workflow_json,
                input_schema=checked.input_schema,
                default_params=checked.default_params,
            )

        return await self._audited(ACTION_CREATE, definition.id, actor, {}, run)

    async def update(
        self,
        workflow_id: str,
        changes: Mapping[str, Any],
        *,
        actor: str,
        catalogue: NodeCatalogue | None = None,
        expected_version: int | None = None,
    ) -> Workflow:
        """Partial update (fields of ``UPDATABLE_FIELDS``); the merged result is validated
        as a whole, so a new schema cannot orphan a token in the old graph."""
        unknown = sorted(set(changes) - UPDATABLE_FIELDS)
        if unknown:
            raise ValidationError(
                f"Cannot update field(s): {', '.join(unknown)}",
                details=[{"field": name, "message": "not updatable"} for name in unknown],
            )

        async def run(session: AsyncSession) -> Workflow:
            repo = WorkflowRepository(session)
            current = await repo.get(workflow_id)
            merged = WorkflowDefinition(
                id=current.id,
                name=changes.get("name", current.name),
                description=changes.get("description", current.description),
                workflow_json=changes.get("workflow_json", current.workflow_json),
                input_schema=changes.get("input_schema", current.input_schema),
                default_params=changes.get("default_params", current.default_params),
            )
            checked = validate_definition(merged, catalogue)
            normalised = {key: getattr(checked, key) for key in changes}
            return await repo.update(workflow_id, normalised, expected_version=expected_version)

        details = {"fields": sorted(changes)}
        return await self._audited(ACTION_UPDATE, workflow_id, actor, details, run)

    async def delete(self, workflow_id: str, *, actor: str) -> None:
        """Delete; ``WorkflowNotFound`` if absent. Jobs that ran it keep their history."""

        async def run(session: AsyncSession) -> None:
            await WorkflowRepository(session).delete(workflow_id)

        await self._audited(ACTION_DELETE, workflow_id, actor, {}, run)

    async def _audited(
        self,
        action: str,
        target: str,
        actor: str,
        details: dict[str, Any],
        run: Callable[[AsyncSession], Awaitable[T]],
    ) -> T:
        try:
            async with self._sessions() as session, session.begin():
                result = await run(session)
                await AuditLog.record(session, actor, action, target, OUTCOME_SUCCESS, details)
            return result
        except GatewayError as exc:
            failure = {**details, "error": exc.code.value}
            # If even the audit write fails, the caller still gets the original error.
            with contextlib.suppress(GatewayError):
                async with self._sessions() as session, session.begin():
                    await AuditLog.record(
                        session, actor, action, target[:255], OUTCOME_FAILURE, failure
                    )
            raise
        finally:
            if self._recent is not None:  # after the commit: the next read sees the change
                self._recent.forget(target)
