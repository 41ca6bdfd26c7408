"""SQLAlchemy exceptions stop here: callers above the database see errors.py classes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError

from comfyui_gateway.errors import Conflict, GatewayError


@contextlib.contextmanager
def translate_db_errors(conflict_message: str = "Conflict") -> Iterator[None]:
    """Map ``IntegrityError``/``StaleDataError`` to ``Conflict``, other database failures
    to a ``GatewayError`` (code INTERNAL).

    Gateway errors raised inside pass through untouched. Messages never include the SQL
    or its parameters, which could hold prompts.
    """
    try:
        yield
    except GatewayError:
        raise
    except (IntegrityError, StaleDataError) as exc:
        raise Conflict(conflict_message) from exc
    except DBAPIError as exc:
        kind = "connection lost" if exc.connection_invalidated else type(exc.orig).__name__
        raise GatewayError(f"Database error ({kind})") from exc
    except SQLAlchemyError as exc:
        raise GatewayError(f"Database error ({type(exc).__name__})") from exc
