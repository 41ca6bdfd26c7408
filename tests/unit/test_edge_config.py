"""Rendering envoy.yaml for a deployment changes only the settings-driven values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from comfyui_gateway.cli.edge import (
    DESCRIPTOR,
    cors_origin_matchers,
    envoy_template_path,
    render_envoy_config,
)
from comfyui_gateway.cli.edge_routes import (
    TEMPLATE_PREFIX,
    HttpBinding,
    path_regex,
    read_bindings,
    render_routes,
)
from comfyui_gateway.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _manager(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def _filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    for http_filter in _manager(config)["http_filters"]:
        if http_filter["name"] == name:
            typed: dict[str, Any] = http_filter["typed_config"]
            return typed
    raise AssertionError(name)


def test_template_is_the_root_envoy_yaml() -> None:
    assert envoy_template_path() == ROOT / "envoy.yaml"


def test_render_applies_ports_limits_cors_and_upstreams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "3100")
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("ENVOY_ADMIN_PORT", "9911")
    monkeypatch.setenv("MAX_REQUEST_BYTES", "2048")
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example")
    settings = load_settings(None)
    config = render_envoy_config(settings, [("127.0.0.1", 50061), ("127.0.0.1", 50062)])

    listener = config["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 3100}
    assert config["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9911,
    }
    assert _filter(config, "envoy.filters.http.buffer")["max_request_bytes"] == 2048
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["proto_descriptor"] == str(DESCRIPTOR)
    cors = _manager(config)["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]
    assert cors["envoy.filters.http.cors"]["allow_origin_string_match"] == [
        {"exact": "https://app.example"}
    ]
    endpoints = config["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]
    ports = [
        e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints["lb_endpoints"]
    ]
    assert ports == [50061, 50062]


def test_render_keeps_everything_else() -> None:
    template = yaml.safe_load((ROOT / "envoy.yaml").read_text())
    rendered = render_envoy_config(load_settings(None), [("127.0.0.1", 50051)])
    assert _manager(rendered)["local_reply_config"] == _manager(template)["local_reply_config"]
    assert (
        rendered["static_resources"]["clusters"][0]["health_checks"]
        == (template["static_resources"]["clusters"][0]["health_checks"])
    )


def test_wildcard_cors_allows_any_origin() -> None:
    assert cors_origin_matchers(["*"]) == [{"safe_regex": {"regex": ".*"}}]
    assert cors_origin_matchers(["https://a.example/", "https://b.example"]) == [
        {"exact": "https://a.example"},
        {"exact": "https://b.example"},
    ]


def test_transcoder_lists_every_service_of_the_contract() -> None:
    from server.app import SERVICE_NAMES

    template = yaml.safe_load((ROOT / "envoy.yaml").read_text())
    assert set(_filter(template, "envoy.filters.http.grpc_json_transcoder")["services"]) == set(
        SERVICE_NAMES
    )


def test_uploads_route_takes_max_input_bytes_before_the_catch_all() -> None:
    settings = load_settings(None, MAX_INPUT_BYTES=123_456, MAX_REQUEST_BYTES=65_536)
    config = render_envoy_config(settings, [("127.0.0.1", 50051)])
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    names = [route.get("name") for route in routes]
    uploads = routes[names.index("uploads")]
    assert uploads["match"]["path"] == "/uploads"
    limit = uploads["typed_per_filter_config"]["envoy.filters.http.buffer"]["buffer"]
    assert limit["max_request_bytes"] == 123_456
    assert names.index("uploads") < [r["match"].get("prefix") for r in routes].index("/")
    assert _filter(config, "envoy.filters.http.buffer")["max_request_bytes"] == 65_536


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def _rendered(**env: str) -> dict[str, Any]:
    return render_envoy_config(load_settings(None, **env), [("127.0.0.1", 50051)])


def test_every_http_rule_of_the_protos_has_a_route() -> None:
    from server.app import SERVICE_NAMES

    bindings = read_bindings(DESCRIPTOR, SERVICE_NAMES)
    names = {route["name"] for route in _routes(_rendered())}
    assert len(bindings) >= 18
    for binding in bindings:
        assert f"{binding.rpc} {binding.verb}" in names
        assert f"{binding.template} 405" in names
    assert not any(name.startswith(TEMPLATE_PREFIX) for name in names)
    assert _routes(_rendered())[-1]["name"] == "not_found"


def test_route_kinds_follow_the_rpc_shape() -> None:
    by_name = {route["name"]: route for route in _routes(_rendered())}
    events = by_name["comfyui_gateway.v1.JobService.WatchJob GET"]
    assert events["route"]["timeout"] == "0s" and events["route"]["idle_timeout"] == "3600s"
    download = by_name["comfyui_gateway.v1.OutputService.DownloadOutput GET"]
    assert download["route"]["idle_timeout"] == "300s"
    safe_retry = by_name["comfyui_gateway.v1.JobService.GetJob GET"]["route"]["retry_policy"]
    assert "reset" in safe_retry["retry_on"].split(",")
    create = by_name["comfyui_gateway.v1.JobService.CreateJob POST"]["route"]["retry_policy"]
    assert create == safe_retry  # creations are keyed by x-request-id: safe to resend
    delete = by_name["comfyui_gateway.v1.WorkflowService.DeleteWorkflow DELETE"]["route"]
    assert set(delete["retry_policy"]["retry_on"].split(",")) == {
        "connect-failure",
        "refused-stream",
        "reset-before-request",
    }
    lua = by_name["/workflows/{id} 405"]["typed_per_filter_config"]["envoy.filters.http.lua"]
    assert '["allow"] = "GET, HEAD, PUT, DELETE"' in lua["source_code"]["inline_string"]


def test_unary_routes_take_their_headers_from_the_trailers() -> None:
    """Routes of unary RPCs are marked for the Lua filter, which moves the answer's
    headers out of the gRPC trailers (the server writes a unary answer at once); stream
    routes are not (their headers come first, with the first message)."""
    from server.app import SERVICE_NAMES

    by_name = {route["name"]: route for route in _routes(_rendered())}
    marked = {"envoy.filters.http.lua": {"answer": "unary"}}
    bindings = read_bindings(DESCRIPTOR, SERVICE_NAMES)
    for binding in bindings:
        route = by_name[f"{binding.rpc} {binding.verb}"]
        expected = None if binding.server_streaming else marked
        assert route.get("metadata", {}).get("filter_metadata") == expected, binding.rpc
    assert by_name["uploads"]["metadata"]["filter_metadata"] == marked
    assert any(binding.server_streaming for binding in bindings)


def test_json_body_routes_refuse_other_media_types_except_raw_ones() -> None:
    names = {route["name"] for route in _routes(_rendered())}
    assert "comfyui_gateway.v1.JobService.CreateJob POST 415" in names
    assert "comfyui_gateway.v1.WorkflowService.UpdateWorkflow PUT 415" in names
    raw = HttpBinding(
        rpc="x.Uploads.Create",
        verb="POST",
        template="/uploads",
        has_body=True,
        raw_body=True,
        server_streaming=False,
        streams_bytes=False,
    )
    template = yaml.safe_load((ROOT / "envoy.yaml").read_text())
    routes = render_routes(_routes(template), [raw], grpc_passthrough=False)
    assert [route["name"] for route in routes if route["name"].endswith("415")] == []


def test_native_grpc_is_closed_unless_configured() -> None:
    closed = [r for r in _routes(_rendered()) if r["name"].startswith("grpc ")]
    assert [r["match"]["prefix"] for r in closed] == ["/comfyui_gateway.", "/grpc."]
    assert all('"404"' in str(r["typed_per_filter_config"]) for r in closed)
    opened = [
        r for r in _routes(_rendered(EDGE_GRPC_PASSTHROUGH="true")) if r["name"].startswith("grpc ")
    ]
    assert all(
        r["route"]["cluster"] == "grpc_server" and "direct_response" not in r for r in opened
    )


def test_hand_written_routes_keep_their_place() -> None:
    template = yaml.safe_load((ROOT / "envoy.yaml").read_text())
    mine = {"name": "uploads", "match": {"prefix": "/uploads"}, "route": {"cluster": "x"}}
    routes = render_routes([mine, *_routes(template)], [], grpc_passthrough=False)
    assert routes[0] == mine and routes[-1]["name"] == "not_found"


@pytest.mark.parametrize(
    ("template", "regex"),
    [
        ("/jobs/{job_id}/events", "/jobs/[^/]+/events"),
        ("/outputs/{job_id}/{filename}", "/outputs/[^/]+/[^/]+"),
        ("/files/{path=**}", "/files/.*"),
        ("/openapi.json", "/openapi\\.json"),
    ],
)
def test_path_templates_become_full_match_regexes(template: str, regex: str) -> None:
    assert path_regex(template) == regex
