"""deploy/: compose file, Dockerfile, collector config and Kubernetes manifests, checked
statically (no Docker engine here): they parse, and every file, port, variable and name
they mention exists in the project."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from comfyui_gateway.config import Settings
from comfyui_gateway.jobqueue.base import PRIORITY_ORDER
from comfyui_gateway.metrics import catalogue
from comfyui_gateway.names import queue_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = set(Settings.model_fields)
DEFAULTS = Settings.model_construct()
GATEWAY_SERVICES = ("init", "server", "worker", "envoy")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return document


def services() -> dict[str, Any]:
    result: dict[str, Any] = compose()["services"]
    return result


def known_variable(name: str) -> bool:
    return name in SETTINGS or name.startswith("OTEL_")


def port_of(url: str) -> int:
    port = urlparse(url).port
    assert port is not None, url
    return port


# -- docker compose --------------------------------------------------------------------


def test_compose_has_every_piece_of_the_gateway() -> None:
    expected = {"envoy", "server", "worker", "redis", "postgres", "minio", "minio-init"}
    expected |= {"otel-collector", "comfyui", "init"}
    assert expected <= set(services())


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in services().items():
        if service.get("restart") == "no":  # one-shot jobs: done is their health
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_dependencies_name_real_services() -> None:
    names = set(services())
    for name, service in services().items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in names, f"{name} depends on unknown {dependency}"
            target = services()[dependency]
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dependency}'s health"
            if rule["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} is not a one-shot"


def test_gateway_services_use_the_project_image_and_known_commands() -> None:
    commands = {"init", "run", "worker", "edge"}
    for name in GATEWAY_SERVICES:
        service = services()[name]
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
        assert service["command"][0] in commands, name


def test_gateway_environment_names_only_settings_and_otel_variables() -> None:
    for name in GATEWAY_SERVICES:
        for variable in services()[name]["environment"]:
            assert known_variable(variable), f"{name}: {variable} is not a setting"


def test_ports_agree_between_edge_server_and_health_checks() -> None:
    server, envoy = services()["server"], services()["envoy"]
    grpc_port = int(server["environment"]["GRPC_PORT"])
    assert grpc_port == DEFAULTS.GRPC_PORT
    assert server["environment"]["GRPC_HOST"] == "0.0.0.0"
    assert f"127.0.0.1:{grpc_port}" in " ".join(server["healthcheck"]["test"])
    assert envoy["environment"]["GRPC_HOST"] == "server"
    assert int(envoy["environment"]["GRPC_PORT"]) == grpc_port
    rest_port = int(envoy["environment"]["PORT"])
    assert any(str(p).endswith(f":{rest_port}") for p in envoy["ports"])
    assert f"127.0.0.1:{rest_port}/health" in " ".join(envoy["healthcheck"]["test"])


def test_workers_and_server_point_at_services_that_exist() -> None:
    env = services()["server"]["environment"]
    for variable in ("COMFYUI_URL", "S3_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "REDIS_URL"):
        host = urlparse(env[variable]).hostname
        assert host in services(), f"{variable} names {host}"
    database = urlparse(env["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-gateway}", "x"))
    assert database.hostname in services()
    worker = services()["worker"]["command"]
    assert worker[worker.index("--backend") + 1] == env["COMFYUI_URL"]
    assert port_of(env["OTEL_EXPORTER_OTLP_ENDPOINT"]) in collector_ports()


def test_comfyui_reserves_a_gpu_and_workers_scale() -> None:
    devices = services()["comfyui"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in devices)
    assert "container_name" not in services()["worker"]  # a fixed name forbids --scale
    assert "container_name" not in services()["server"]


def test_bucket_init_creates_the_configured_bucket() -> None:
    init = services()["minio-init"]
    assert "mc mb" in " ".join(init["entrypoint"])
    assert init["environment"]["S3_BUCKET"] == services()["server"]["environment"]["S3_BUCKET"]


def test_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in compose()["volumes"], f"{name}: undeclared volume {source}"


# -- OpenTelemetry collector -----------------------------------------------------------


def collector() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    return document


def collector_ports() -> set[int]:
    protocols = collector()["receivers"]["otlp"]["protocols"]
    return {int(p["endpoint"].rsplit(":", 1)[1]) for p in protocols.values()}


def test_collector_pipeline_uses_declared_components() -> None:
    config = collector()
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline[kind]:
            assert component in config[kind], component
    assert collector_ports() == {4317, 4318}


# -- Dockerfile ------------------------------------------------------------------------


def dockerfile() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    lines = dockerfile()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2 and all("-slim" in line for line in stages)
    final = lines[lines.index(stages[-1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert any(line.startswith("COPY --from=") for line in final)


def test_dockerfile_copies_files_that_exist() -> None:
    for line in dockerfile():
        if line.startswith("COPY ") and "--from=" not in line:
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source


def test_dockerfile_installs_the_project_and_generates_protos_as_make_does() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[<>=\[ ]", spec, maxsplit=1)[0]: spec
        for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    }
    run = " ".join(line for line in dockerfile() if line.startswith("RUN "))
    assert "scripts/gen_protos.py" in run
    assert re.search(r"/opt/venv/bin/pip install \.(\s|$)", run), "installs pyproject's deps"
    for spec in re.findall(r'"([^"]+)"', run):
        name = re.split(r"[<>=\[ ]", spec, maxsplit=1)[0]
        assert declared.get(name) == spec, f"{spec} differs from pyproject ({declared.get(name)})"
    makefile = (ROOT / "Makefile").read_text()
    assert "scripts/gen_protos.py" in makefile  # the same generator `make proto` runs


# -- Kubernetes --------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def containers() -> list[dict[str, Any]]:
    pods = [*by_kind("Deployment").values(), *by_kind("Job").values()]
    return [c for pod in pods for c in pod["spec"]["template"]["spec"]["containers"]]


def test_manifests_parse_and_name_their_api() -> None:
    kinds = {d["kind"] for d in manifests()}
    expected = {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}
    assert expected | {"ScaledObject", "HorizontalPodAutoscaler", "Job"} <= kinds
    assert all(d.get("apiVersion") for d in manifests())


def test_configuration_holds_only_settings() -> None:
    for name in by_kind("ConfigMap")["comfyui-gateway"]["data"]:
        assert known_variable(name), name
    for name in by_kind("Secret")["comfyui-gateway"]["stringData"]:
        assert known_variable(name) or name == "redis-address", name
    for container in containers():
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            assert ref["name"] in by_kind(kind)
        for variable in container.get("env", []):
            assert known_variable(variable["name"]), variable["name"]


def test_pods_run_as_non_root_with_known_commands() -> None:
    for pod in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        assert pod["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for container in containers():
        assert container["args"][0] in {"init", "run", "worker", "edge"}


def test_server_pod_has_envoy_sidecar_and_grpc_probes_on_the_grpc_port() -> None:
    pod = by_kind("Deployment")["comfyui-gateway-server"]["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in pod["containers"]}
    config = by_kind("ConfigMap")["comfyui-gateway"]["data"]
    grpc_port = int(config["GRPC_PORT"])
    server, envoy = by_name["server"], by_name["envoy"]
    assert server["ports"][0]["containerPort"] == grpc_port
    assert server["readinessProbe"]["grpc"]["port"] == grpc_port
    assert server["livenessProbe"]["grpc"]["port"] == grpc_port
    assert envoy["args"] == ["edge"]
    assert {"name": "GRPC_HOST", "value": "127.0.0.1"} in envoy["env"]
    assert envoy["ports"][0]["containerPort"] == int(config["PORT"])
    assert envoy["readinessProbe"]["httpGet"]["port"] == int(config["PORT"])


def test_services_and_budgets_select_existing_pods() -> None:
    deployments = by_kind("Deployment").values()

    def matches(selector: dict[str, str]) -> list[dict[str, Any]]:
        return [
            d
            for d in deployments
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]

    for service in by_kind("Service").values():
        targets = matches(service["spec"]["selector"])
        assert targets, service["metadata"]["name"]
        names = {
            port["name"]
            for target in targets
            for c in target["spec"]["template"]["spec"]["containers"]
            for port in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names
    for budget in by_kind("PodDisruptionBudget").values():
        assert matches(budget["spec"]["selector"]["matchLabels"])


def test_autoscaling_targets_exist_and_watch_the_rq_queues() -> None:
    deployments = by_kind("Deployment")
    config = by_kind("ConfigMap")["comfyui-gateway"]["data"]
    for scaled in by_kind("ScaledObject").values():
        assert scaled["spec"]["scaleTargetRef"]["name"] in deployments
        triggers = [t for t in scaled["spec"]["triggers"] if t["type"] == "redis"]
        lists = {t["metadata"]["listName"] for t in triggers}
        namespace = config["REDIS_NAMESPACE"]
        assert lists == {f"rq:queue:{queue_name(p.value, namespace)}" for p in PRIORITY_ORDER}
        for trigger in triggers:
            assert trigger["authenticationRef"]["name"] in by_kind("TriggerAuthentication")
    for hpa in by_kind("HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments


def test_model_autoscaling_queries_the_per_model_metrics() -> None:
    """The per-model rule reads metrics the gateway exports, by their ``model`` label."""
    exported = {spec.name: spec for spec in catalogue.ALL}
    queried = []
    for scaled in by_kind("ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "prometheus":
                continue
            query = trigger["metadata"]["query"]
            name = re.search(r"(comfyui_gateway_\w+)\{model=", query)
            assert name, query
            assert "model" in exported[name.group(1)].labels
            assert float(trigger["metadata"]["threshold"]) > 0
            queried.append(name.group(1))
    assert set(queried) == {catalogue.MODEL_QUEUE_DEPTH.name, catalogue.MODEL_QUEUE_OLDEST_AGE.name}


def test_workers_serve_a_configured_backend() -> None:
    backends = by_kind("ConfigMap")["comfyui-gateway"]["data"]["COMFYUI_URL"].split(",")
    workers = [c for c in containers() if c["args"][0] == "worker"]
    assert workers
    for worker in workers:
        assert worker["args"][worker["args"].index("--backend") + 1] in backends
