"""Span helpers shared by the server, the worker and the core.

``child_span`` makes a span only inside an existing trace: background loops (backend
probes, the reconciler's sweeps) call the same HTTP and storage code as jobs do, and
would otherwise start a root trace every few seconds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

INSTRUMENTATION = "comfyui_gateway"


@functools.cache
def tracer() -> trace.Tracer:
    """The gateway's tracer, made once: ``get_tracer`` builds a new one per call (a
    scope object and a deprecation check each time, on every span of every job). One
    made before ``configure_tracing`` is a proxy that follows the provider installed."""
    return trace.get_tracer(INSTRUMENTATION)


@contextmanager
def child_span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span | None]:
    """A span under the current one, or nothing when no trace is being recorded."""
    if not trace.get_current_span().is_recording():
        yield None
        return
    with tracer().start_as_current_span(name, kind=kind) as span:
        set_attributes(attributes or {}, span)
        yield span


def set_attributes(attributes: Mapping[str, Any], span: Span | None = None) -> None:
    """Set the non-None ``attributes`` on ``span`` (default: the current span)."""
    target = span or trace.get_current_span()
    for key, value in attributes.items():
        if value is not None:
            target.set_attribute(key, value)


def mark_error(code: str, message: str = "", span: Span | None = None) -> None:
    """Record a gateway error code on ``span`` (default: current) and mark it failed."""
    target = span or trace.get_current_span()
    target.set_attribute("error.type", code)
    target.set_attribute("gateway.error_code", code)
    target.set_status(Status(StatusCode.ERROR, message or code))
