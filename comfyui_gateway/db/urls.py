"""``DATABASE_URL`` in the forms the SPEC accepts, mapped to SQLAlchemy driver URLs.

Accepted: a file path (``./data/gateway.db``, ``/abs/x.db``), ``sqlite:///...``,
``sqlite+aiosqlite:///...``, ``postgres://``, ``postgresql://`` and
``postgresql+psycopg://``. The same database is reached through an async driver by the
services and a sync driver by Alembic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

_POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg://")
_SQLITE_PREFIXES = ("sqlite:///", "sqlite+aiosqlite:///", "sqlite+pysqlite:///")
MEMORY = ":memory:"


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a ``DATABASE_URL`` points: a SQLite file (or memory) or a PostgreSQL server."""

    dialect: str
    """``"sqlite"`` or ``"postgresql"``."""
    async_url: URL
    sync_url: URL
    sqlite_path: Path | None = None
    """Absolute path of the SQLite file; ``None`` for PostgreSQL and in-memory SQLite."""

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"


def parse_database_url(database_url: str) -> DatabaseTarget:
    """Classify ``database_url``; raise ``ValueError`` naming ``DATABASE_URL`` if unusable."""
    raw = database_url.strip()
    if not raw:
        raise ValueError("DATABASE_URL is empty")
    if raw.startswith(_POSTGRES_PREFIXES):
        rest = raw.split("://", 1)[1]
        url = make_url("postgresql+psycopg://" + rest)
        return DatabaseTarget("postgresql", url, url)
    if raw.startswith(_SQLITE_PREFIXES):
        path_part = raw.split(":///", 1)[1]
        return _sqlite_target(path_part)
    if "://" in raw:
        scheme = raw.split("://", 1)[0]
        raise ValueError(
            f"DATABASE_URL scheme {scheme!r} is not supported: use a SQLite file path, "
            "sqlite:///path, postgres:// or postgresql://"
        )
    return _sqlite_target(raw)


def _sqlite_target(path_part: str) -> DatabaseTarget:
    path_only, _, query = path_part.partition("?")
    if path_only in ("", MEMORY):
        return DatabaseTarget(
            "sqlite",
            make_url(f"sqlite+aiosqlite:///{MEMORY}"),
            make_url(f"sqlite+pysqlite:///{MEMORY}"),
        )
    path = Path(path_only).expanduser().resolve()
    suffix = f"?{query}" if query else ""
    return DatabaseTarget(
        "sqlite",
        make_url(f"sqlite+aiosqlite:///{path}{suffix}"),
        make_url(f"sqlite+pysqlite:///{path}{suffix}"),
        sqlite_path=path,
    )
