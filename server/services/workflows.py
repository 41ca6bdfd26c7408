"""WorkflowService: list and read for users; create, update, delete for admins.

Admin changes go through ``WorkflowAdmin`` (validate, write, audit in one
transaction). When a worker has reported a backend's node catalogue, new and changed
graphs are also checked against it (unknown node classes, models not installed).
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import empty_pb2

from comfyui_gateway.db.models.workflow import Workflow
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.errors import Forbidden, ValidationError
from comfyui_gateway.v1 import workflows_pb2, workflows_pb2_grpc
from comfyui_gateway.workflows.admin import WorkflowAdmin
from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.definition import WorkflowDefinition
from server.call_scope import current_caller, reply_with_status
from server.convert import dict_from, struct_from, timestamp_from
from server.deps import ServerDeps

WORKFLOW_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def workflow_message(workflow: Workflow) -> workflows_pb2.Workflow:
    return workflows_pb2.Workflow(
        id=workflow.id,
        name=workflow.name,
        description=workflow.description,
        workflow_json=struct_from(workflow.workflow_json),
        input_schema=struct_from(workflow.input_schema or {}),
        default_params=struct_from(workflow.default_params or {}),
        created_at=timestamp_from(workflow.created_at),
        updated_at=timestamp_from(workflow.updated_at),
    )


def check_workflow_id(workflow_id: str) -> str:
    if not workflow_id:
        raise ValidationError("id is required", details=[{"field": "id", "message": "is required"}])
    if not WORKFLOW_ID.fullmatch(workflow_id):
        raise ValidationError(
            "id must be 1-128 letters, digits, '_' or '-'",
            details=[{"field": "id", "message": "must match [A-Za-z0-9_-]{1,128}"}],
        )
    return workflow_id


def require_admin() -> str:
    caller = current_caller()
    if not caller.is_admin:
        raise Forbidden()
    return caller.subject


class WorkflowService(workflows_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, deps: ServerDeps) -> None:
        self._deps = deps
        self._admin = WorkflowAdmin(deps.sessions, recent=deps.recent_workflows)

    async def ListWorkflows(
        self, request: workflows_pb2.ListWorkflowsRequest, context: Any
    ) -> workflows_pb2.ListWorkflowsResponse:
        async with self._deps.sessions() as session:
            workflows = await WorkflowRepository(session).list()
            return workflows_pb2.ListWorkflowsResponse(
                workflows=[workflow_message(w) for w in workflows]
            )

    async def GetWorkflow(
        self, request: workflows_pb2.GetWorkflowRequest, context: Any
    ) -> workflows_pb2.WorkflowResponse:
        async with self._deps.sessions() as session:
            workflow = await WorkflowRepository(session).get(check_workflow_id(request.id))
            return workflows_pb2.WorkflowResponse(workflow=workflow_message(workflow))

    async def CreateWorkflow(
        self, request: workflows_pb2.CreateWorkflowRequest, context: Any
    ) -> workflows_pb2.WorkflowResponse:
        actor = require_admin()
        definition = WorkflowDefinition(
            id=check_workflow_id(request.id),
            name=request.name or request.id,
            description=request.description,
            workflow_json=dict_from(request.workflow_json, request.HasField("workflow_json")) or {},
            input_schema=dict_from(request.input_schema) or {},
            default_params=dict_from(request.default_params) or {},
        )
        workflow = await self._admin.create(
            definition, actor=actor, catalogue=await self._catalogue()
        )
        reply_with_status(201)
        return workflows_pb2.WorkflowResponse(workflow=workflow_message(workflow))

    async def UpdateWorkflow(
        self, request: workflows_pb2.UpdateWorkflowRequest, context: Any
    ) -> workflows_pb2.WorkflowResponse:
        actor = require_admin()
        changes: dict[str, Any] = {}
        if request.HasField("name"):
            changes["name"] = request.name
        if request.HasField("description"):
            changes["description"] = request.description
        for field in ("workflow_json", "input_schema", "default_params"):
            if request.HasField(field):
                changes[field] = dict_from(getattr(request, field)) or {}
        workflow = await self._admin.update(
            check_workflow_id(request.id),
            changes,
            actor=actor,
            catalogue=await self._catalogue(),
        )
        return workflows_pb2.WorkflowResponse(workflow=workflow_message(workflow))

    async def DeleteWorkflow(
        self, request: workflows_pb2.DeleteWorkflowRequest, context: Any
    ) -> empty_pb2.Empty:
        actor = require_admin()
        await self._admin.delete(check_workflow_id(request.id), actor=actor)
        reply_with_status(204)
        return empty_pb2.Empty()

    async def _catalogue(self) -> NodeCatalogue | None:
        """The first backend's reported node catalogue, when a worker has sent one."""
        for url in self._deps.settings.comfyui_urls:
            raw = await self._deps.backend_reports.catalogue(url)
            if raw:
                return NodeCatalogue.from_object_info(raw)
        return None
