"""Writing (and reading back) the audit trail of admin actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from comfyui_gateway.db.models.audit import AuditEntry
from comfyui_gateway.db.translate import translate_db_errors

OUTCOME_SUCCESS = "success"
OUTCOME_FAILURE = "failure"
OUTCOME_DENIED = "denied"


class AuditLog:
    """Audit writer. Record in the same transaction as the change it describes, so an
    audited change and its record commit or vanish together::

        async with sessions() as session, session.begin():
            await WorkflowRepository(session).delete("icon_512")
            await AuditLog.record(session, actor, "workflow.delete", "icon_512", "success")
    """

    @staticmethod
    async def record(
        session: AsyncSession,
        actor: str,
        action: str,
        target: str,
        outcome: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add one entry; ``details`` must be JSON-safe and free of secrets and prompts."""
        entry = AuditEntry(
            actor=actor, action=action, target=target, outcome=outcome, details=details
        )
        with translate_db_errors():
            session.add(entry)
            await session.flush()
        return entry

    @staticmethod
    async def recent(
        session: AsyncSession, *, target: str | None = None, limit: int = 100
    ) -> Sequence[AuditEntry]:
        """Newest entries first, optionally for one target."""
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if target is not None:
            stmt = stmt.where(AuditEntry.target == target)
        with translate_db_errors():
            return (await session.scalars(stmt)).all()

    @staticmethod
    async def search(
        session: AsyncSession,
        *,
        actor: str = "",
        action: str = "",
        after: datetime | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEntry]:
        """Newest entries first, filtered by exact actor and action and by time."""
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        if after is not None:
            stmt = stmt.where(AuditEntry.timestamp > after)
        with translate_db_errors():
            return (await session.scalars(stmt)).all()
