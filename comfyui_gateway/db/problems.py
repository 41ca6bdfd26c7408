"""One line that names DATABASE_URL, the cause and the fix, instead of a driver traceback.

Start-up reaches the database first (migrations), so a typo in ``DATABASE_URL``, a
PostgreSQL that is down or a database never created shows up there. The CLI turns
those errors into one line with this module; passwords never appear in it.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import OperationalError

from comfyui_gateway.db.urls import parse_database_url

_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def database_problem(database_url: str, exc: BaseException) -> str | None:
    """The line to print for ``exc`` (found anywhere in its chain), or None if unrelated."""
    for cause in _chain(exc):
        if isinstance(cause, ValueError) and str(cause).startswith("DATABASE_URL"):
            return str(cause)
        if isinstance(cause, OperationalError):
            return _describe(database_url, cause)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and the members of exception groups."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def _describe(database_url: str, exc: BaseException) -> str:
    driver = str(getattr(exc, "orig", None) or exc)
    first = next((line.strip() for line in driver.splitlines() if line.strip()), driver)
    target = parse_database_url(database_url)
    if target.is_sqlite:
        return f"DATABASE_URL: cannot use the SQLite file {target.sqlite_path}: {first}"
    url = target.sync_url
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    missing = _MISSING_DATABASE.search(driver)
    if missing:
        name = missing.group(1)
        return (
            f'DATABASE_URL: PostgreSQL at {where} has no database "{name}"; create it with '
            f"`createdb -h {url.host or 'localhost'} -p {url.port or 5432}"
            f"{f' -U {url.username}' if url.username else ''} {name}` "
            f'(or CREATE DATABASE "{name}";)'
        )
    if "Connection refused" in driver:
        return (
            f"DATABASE_URL: cannot reach PostgreSQL at {where} (connection refused): is it running?"
        )
    cause = first.removeprefix("connection failed: ")
    return f"DATABASE_URL: cannot use PostgreSQL at {where}: {cause}"
