"""Tracing set-up follows the standard OTEL_* variables and is silent without them."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from comfyui_gateway.tracing import context_from_traceparent, current_traceparent
from comfyui_gateway.tracing.logfields import TraceIdsFilter
from comfyui_gateway.tracing.setup import build_tracing

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_no_otel_variables_means_spans_but_no_export() -> None:
    handle = build_tracing("server", {})
    assert handle.provider is not None and handle.exporting == ""
    assert handle.provider.resource.attributes["service.name"] == "comfyui-gateway-server"
    handle.shutdown()


@pytest.mark.parametrize(
    ("env", "exporting"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "otlp http/protobuf http://c:4318"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "otlp grpc http://c:4317",
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, ""),
    ],
)
def test_exporter_follows_the_environment(env: dict[str, str], exporting: str) -> None:
    handle = build_tracing("worker", {**env, "OTEL_SERVICE_NAME": "gw-worker"})
    assert handle.exporting == exporting
    assert handle.provider is not None
    assert handle.provider.resource.attributes["service.name"] == "gw-worker"
    handle.shutdown()


def test_sdk_disabled_installs_nothing_and_bad_protocols_fail() -> None:
    assert build_tracing("server", {"OTEL_SDK_DISABLED": "true"}).provider is None
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        build_tracing(
            "server", {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "x"}
        )


def test_traceparent_round_trips_and_log_records_get_ids() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("job", context=context_from_traceparent(TRACEPARENT)):
        carried = current_traceparent()
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        TraceIdsFilter().filter(record)
    assert carried is not None and carried.split("-")[1] == TRACEPARENT.split("-")[1]
    assert getattr(record, "traceId", None) == "0af7651916cd43dd8448eb211c80319c"
    assert getattr(record, "spanId", None) == carried.split("-")[2]
    assert trace.get_current_span().get_span_context().is_valid is False
    provider.shutdown()
