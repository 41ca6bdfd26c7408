"""GET /metrics through Envoy: Prometheus text that moves as jobs run (embedded mode,
auth on so the admin-only rule and the refusal counters are exercised)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import GatewayStack

ADMIN = {"X-API-Key": "metrics-admin-key"}
USER = {"X-API-Key": "metrics-user-key"}
SMALL = {"width": 64, "height": 64, "steps": 2, "seed": 7}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("metrics")
    env = {"API_KEYS": "metrics-admin-key:admin,metrics-user-key:user"}
    with GatewayStack(workdir, env, emulator=True) as stack:
        stack.register_bundled_workflows()
        yield stack


def scrape(stack: GatewayStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{stack.base_url}/metrics", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def run_job(stack: GatewayStack, seed: int) -> dict[str, Any]:
    body = {"workflowId": "icon_512", "inputs": {"prompt": "a gear icon", **SMALL, "seed": seed}}
    response = requests.post(f"{stack.base_url}/jobs", json=body, headers=ADMIN, timeout=10)
    assert response.status_code in (200, 202), response.text
    created: dict[str, Any] = response.json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = requests.get(
            f"{stack.base_url}/jobs/{created['jobId']}", headers=ADMIN, timeout=5
        ).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return created
        time.sleep(0.1)
    raise AssertionError(f"job {created['jobId']} did not finish")


def test_metrics_move_as_jobs_run(gateway: GatewayStack) -> None:
    before = scrape(gateway)
    assert value(before, "comfyui_gateway_backend_up", backend=gateway.comfyui_url) == 1
    created = value(before, "comfyui_gateway_jobs_created_total", workflow="icon_512")

    run_job(gateway, seed=11)
    run_job(gateway, seed=12)
    cached = run_job(gateway, seed=11)  # same request as the first: served from the cache
    assert cached["status"] == "cache_hit"

    after = scrape(gateway)
    assert value(after, "comfyui_gateway_jobs_created_total", workflow="icon_512") == created + 3
    finished = value(
        after, "comfyui_gateway_jobs_finished_total", workflow="icon_512", status="succeeded"
    )
    assert finished >= 3
    assert value(after, "comfyui_gateway_cache_hits_total") >= 1
    assert 0 < value(after, "comfyui_gateway_cache_hit_ratio") < 1
    # Histograms count only jobs that ran (the cache hit did no GPU work).
    durations = value(
        after, "comfyui_gateway_job_duration_seconds_count", workflow="icon_512", status="succeeded"
    )
    assert durations == finished - value(after, "comfyui_gateway_cache_hits_total")
    assert value(after, "comfyui_gateway_job_queue_wait_seconds_count", priority="normal") >= 2
    execution = {"workflow": "icon_512", "backend": gateway.comfyui_url}
    assert value(after, "comfyui_gateway_comfyui_execution_seconds_count", **execution) >= 2
    inf_bucket = value(
        after, "comfyui_gateway_comfyui_execution_seconds_bucket", **execution, le="+Inf"
    )
    assert inf_bucket == value(
        after, "comfyui_gateway_comfyui_execution_seconds_count", **execution
    )
    assert value(after, "comfyui_gateway_comfyui_execution_seconds_sum", **execution) > 0
    for priority in ("high", "normal", "low"):
        assert value(after, "comfyui_gateway_queue_depth", priority=priority) == 0
        assert value(after, "comfyui_gateway_queue_oldest_job_age_seconds", priority=priority) == 0
    assert value(after, "comfyui_gateway_jobs_active", status="running") == 0


def test_refusals_are_counted_and_metrics_are_admin_only(gateway: GatewayStack) -> None:
    before = scrape(gateway)
    bad = requests.get(f"{gateway.base_url}/jobs", headers={"X-API-Key": "nope"}, timeout=5)
    assert bad.status_code == 401
    forbidden = requests.get(f"{gateway.base_url}/metrics", headers=USER, timeout=5)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "FORBIDDEN"
    after = scrape(gateway)
    for reason in ("unauthenticated", "forbidden"):
        moved = value(after, "comfyui_gateway_auth_failures_total", reason=reason) - value(
            before, "comfyui_gateway_auth_failures_total", reason=reason
        )
        assert moved == 1, reason


def test_envoy_serves_its_own_stats_on_the_admin_port(gateway: GatewayStack) -> None:
    response = requests.get(f"http://127.0.0.1:{gateway.admin_port}/stats/prometheus", timeout=5)
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert "envoy_cluster_upstream_rq" in names or "envoy_cluster_upstream_rq_total" in names
