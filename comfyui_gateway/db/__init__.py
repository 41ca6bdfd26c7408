"""Persistence: models, async engine/session factories, migrations, query helpers.

Usage::

    from comfyui_gateway.db.migrate import migrate  # Alembic: imported only to migrate
    await migrate(settings.DATABASE_URL)            # start-up or `comfyui-gateway init`
    engine = create_engine(settings.DATABASE_URL)
    sessions = create_session_factory(engine)
"""

from comfyui_gateway.db.engine import create_engine, create_session_factory
from comfyui_gateway.db.queries.audit import AuditLog
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.db.revision import current_revision
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.urls import DatabaseTarget, parse_database_url

__all__ = [
    "AuditLog",
    "DatabaseTarget",
    "WorkflowRepository",
    "create_engine",
    "create_session_factory",
    "current_revision",
    "parse_database_url",
    "translate_db_errors",
]
