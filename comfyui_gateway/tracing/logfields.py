"""Trace and span ids on every log line, so a log search and a trace view meet."""

from __future__ import annotations

import logging

from opentelemetry import trace


class TraceIdsFilter(logging.Filter):
    """Adds ``traceId``/``spanId`` (W3C hex) when a valid span is current."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid and not hasattr(record, "traceId"):
            record.traceId = format(context.trace_id, "032x")
            record.spanId = format(context.span_id, "016x")
        return True
