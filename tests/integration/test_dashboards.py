"""Operator dashboards: deploy/prometheus alert rules and the deploy/grafana dashboard.

``promtool`` (Debian's prometheus package, ``make ops-deps``) checks the rules, runs
their unit tests (alerts_test.yaml) and parses every panel's query (as recording
rules); a live gateway's ``/metrics`` must export every metric they name, including
``jobs_failed_total`` with a ``code`` label once a job has failed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import GatewayStack

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "comfyui-gateway.json"
METRIC_NAME = re.compile(r"\bcomfyui_gateway_[a-z0-9_]+")
SUFFIXES = ("_total", "_bucket", "_count", "_sum")
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

PANEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["row", "timeseries", "stat", "gauge", "table"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["h", "w", "x", "y"],
                        "properties": {"w": {"maximum": 24}, "x": {"maximum": 23}},
                    },
                    "targets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr", "datasource"],
                            "properties": {"expr": {"type": "string", "minLength": 1}},
                        },
                    },
                },
                "if": {"properties": {"type": {"not": {"const": "row"}}}},
                "then": {"required": ["targets", "datasource"]},
            },
        },
    },
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: run `make ops-deps` (Debian's prometheus package)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries() -> dict[str, str]:
    """Every panel target's PromQL, Grafana's interval variables replaced, by panel/ref."""
    queries = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_INTERVALS.items():
                expr = expr.replace(variable, value)
            queries[f"panel_{panel['id']}_{target['refId']}"] = expr
    return queries


def rule_queries() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def test_alert_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_alert_rules_fire_on_small_series() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_issue_alert_exists() -> None:
    wanted = {
        "ComfyUIGatewayQueueStale",
        "ComfyUIGatewayBackendDown",
        "ComfyUIGatewayFailureRateHigh",
        "ComfyUIGatewayWebhookBacklog",
        "ComfyUIGatewayRateLimitSpike",
        "ComfyUIGatewayAuthFailureSpike",
        "ComfyUIGatewayJobsSlow",
    }
    assert wanted <= set(rule_queries())


def test_dashboard_has_grafana_shape() -> None:
    board = dashboard()
    jsonschema.validate(board, PANEL_SCHEMA)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [{"record": name, "expr": expr} for name, expr in panel_queries().items()],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def failing_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    """Every prompt fails with an OOM on the emulator: the failed-by-code metric moves."""
    workdir = tmp_path_factory.mktemp("dashboards")
    with GatewayStack(workdir, {"COMFYUI_EMULATOR_FAIL": "oom"}, emulator=True) as stack:
        stack.register_bundled_workflows()
        yield stack


def _failed_job(stack: GatewayStack) -> None:
    body = {
        "workflowId": "icon_512",
        "inputs": {"prompt": "oom", "width": 64, "height": 64, "steps": 2, "seed": -1},
    }
    response = requests.post(
        f"{stack.base_url}/jobs", json=body, headers={"Prefer": "wait=120"}, timeout=150
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["error"]["code"] == "COMFYUI_OOM"


def _exported(stack: GatewayStack) -> tuple[set[str], dict[tuple[str, str], float]]:
    text = requests.get(f"{stack.base_url}/metrics", timeout=10).text
    names: set[str] = set()
    failed: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            if sample.name == "comfyui_gateway_jobs_failed_total":
                failed[(sample.labels["workflow"], sample.labels["code"])] = sample.value
    return names, failed


def test_every_metric_of_rules_and_panels_is_exported(failing_gateway: GatewayStack) -> None:
    _failed_job(failing_gateway)
    deadline = time.monotonic() + 30
    names, failed = _exported(failing_gateway)
    while not failed and time.monotonic() < deadline:
        time.sleep(0.2)
        names, failed = _exported(failing_gateway)
    assert failed.get(("icon_512", "COMFYUI_OOM"), 0) >= 1
    used = {
        name
        for expr in [*rule_queries().values(), *panel_queries().values()]
        for name in METRIC_NAME.findall(expr)
    }
    missing = {name for name in used if name not in names and _base(name) not in names}
    assert not missing, f"named by rules/panels but not in /metrics: {sorted(missing)}"


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
