"""Query helpers over an ``AsyncSession``; transactions belong to the caller."""

from comfyui_gateway.db.queries.audit import AuditLog
from comfyui_gateway.db.queries.workflows import WorkflowRepository

__all__ = ["AuditLog", "WorkflowRepository"]
