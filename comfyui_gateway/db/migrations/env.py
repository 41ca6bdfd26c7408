"""Alembic environment for the gateway's schema.

Normally driven by ``comfyui_gateway.db.migrate.upgrade_database``, which hands over an
open connection in ``config.attributes["connection"]``. Developers creating a revision
run ``alembic -c comfyui_gateway/db/alembic.ini revision --autogenerate -m "..."`` with
``DATABASE_URL`` pointing at a migrated scratch database.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from comfyui_gateway.db import models  # noqa: F401  (registers every table)
from comfyui_gateway.db.base import Base
from comfyui_gateway.db.urls import parse_database_url

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DATABASE_URL", "./data/gateway.db"
    )
    engine = create_engine(parse_database_url(url).sync_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
