"""AuditService: GET /audit, the audit log for admins.

Rows come from admin actions (workflow create/update/delete, written with the change
itself) and from refused requests (``auth.failure``, ``auth.forbidden``, aggregated
per source and window by ``FailureAudit``).
"""

from __future__ import annotations

from typing import Any

from comfyui_gateway.db.models.audit import AuditEntry
from comfyui_gateway.db.queries.audit import AuditLog
from comfyui_gateway.errors import ValidationError
from comfyui_gateway.v1 import audit_pb2, audit_pb2_grpc
from server.convert import datetime_from, struct_from, timestamp_from
from server.deps import ServerDeps
from server.services.workflows import require_admin

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def entry_message(entry: AuditEntry) -> audit_pb2.AuditEntry:
    return audit_pb2.AuditEntry(
        id=str(entry.id),
        timestamp=timestamp_from(entry.timestamp),
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        details=struct_from(entry.details),
    )


class AuditService(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, deps: ServerDeps) -> None:
        self._deps = deps

    async def ListAuditEntries(
        self, request: audit_pb2.ListAuditEntriesRequest, context: Any
    ) -> audit_pb2.ListAuditEntriesResponse:
        require_admin()
        if not 0 <= request.limit <= MAX_LIMIT:
            raise ValidationError(
                f"limit must be between 1 and {MAX_LIMIT}", details=[{"field": "limit"}]
            )
        async with self._deps.sessions() as session:
            entries = await AuditLog.search(
                session,
                actor=request.actor,
                action=request.action,
                after=datetime_from(request.after, request.HasField("after")),
                limit=request.limit or DEFAULT_LIMIT,
            )
        return audit_pb2.ListAuditEntriesResponse(entries=[entry_message(e) for e in entries])
