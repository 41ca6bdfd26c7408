"""JSON-lines logging with a correlation id on every line.

The correlation id lives in a context variable: the server's request interceptor sets
it from Envoy's ``x-request-id``, the worker sets it from the job it runs, and every
log line written meanwhile carries it. python-json-logger does the formatting.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from comfyui_gateway.tracing.logfields import TraceIdsFilter

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

# The description's level names (Pino's) mapped onto the standard library's.
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "silent": logging.CRITICAL + 10,
}


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlationId"):
            record.correlationId = correlation_id.get()
        return True


def configure_logging(level: str = "info", *, component: str = "gateway") -> None:
    """Send every log record to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"component": component},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(_CorrelationFilter())
    handler.addFilter(TraceIdsFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level.lower(), logging.INFO))
    # Library warnings (the ``warnings`` module) become JSON lines on logger py.warnings.
    logging.captureWarnings(True)
    # Chatty libraries stay at warning unless asked for debug.
    for noisy in ("aiohttp.access", "grpc", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def log_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` for structured fields, so call sites read ``log.info(msg, extra=...)``."""
    return {key: value for key, value in fields.items() if value is not None}
