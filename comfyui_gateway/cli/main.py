"""The ``comfyui-gateway`` command: the composition root, the only code that knows every piece.

Commands stay thin: they load settings once, set up logging, and call into the
modules that do the work (serve, dev, init, workflows, emulator).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from comfyui_gateway.config import Settings, SettingsError, load_settings
from comfyui_gateway.errors import GatewayError
from comfyui_gateway.logs import configure_logging


def _settings(component: str) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.LOG_LEVEL, component=component)
    return settings


class _Commands(click.Group):
    """Turns a database start-up failure into one line naming DATABASE_URL (no traceback)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from comfyui_gateway.db.problems import database_problem

            if isinstance(exc, click.ClickException | click.exceptions.Exit):
                raise
            problem = database_problem(_database_url(), exc)
            if problem is None:
                raise
            raise click.ClickException(problem) from exc


def _database_url() -> str:
    try:
        return load_settings().DATABASE_URL
    except SettingsError:
        return ""


@click.group(cls=_Commands)
@click.version_option(package_name="comfyui-gateway")
def main() -> None:
    """ComfyUI Gateway: a secure, durable, observable API in front of ComfyUI."""


def _fail_on_gateway_error(exc: GatewayError) -> NoReturn:
    message = exc.message
    if isinstance(exc.details, list) and exc.details:
        message = f"{len(exc.details)} problem(s)" + "".join(
            f"\n  - {item.get('field', '')}: {item.get('message', '')}"
            for item in exc.details
            if isinstance(item, dict)
        )
    raise click.ClickException(f"{exc.code.value}: {message}") from exc


@main.command()
def init() -> None:
    """Create data folders, migrate the database, register the bundled workflows."""
    from comfyui_gateway.cli.init import initialise, write_env_example

    report = asyncio.run(initialise(_settings("cli"), bundled="always"))
    for folder in report.folders:
        click.echo(f"folder ready: {folder}")
    click.echo("database migrated" + (" (new)" if report.fresh_database else ""))
    for workflow_id in report.registered:
        click.echo(f"registered bundled workflow: {workflow_id}")
    if write_env_example(Path.cwd() / ".env.example"):
        click.echo("wrote .env.example")


@main.command("add-workflow")
@click.argument("workflow_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "workflow_id", required=True, help="Letters, digits, '_' and '-'.")
@click.option("--name", default=None, help="Display name (default: the id).")
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Input schema JSON file.",
)
@click.option("--description", default="", help="What the workflow is for.")
@click.option("--replace", is_flag=True, help="Update the workflow if the id exists.")
def add_workflow(
    workflow_file: Path,
    workflow_id: str,
    name: str | None,
    schema_file: Path | None,
    description: str,
    replace: bool,
) -> None:
    """Register a ComfyUI API-format workflow template (with {{tokens}})."""
    from comfyui_gateway.cli.workflows import add_workflow as add

    try:
        workflow = asyncio.run(
            add(
                _settings("cli"),
                workflow_file,
                workflow_id=workflow_id,
                name=name,
                schema_file=schema_file,
                description=description,
                replace=replace,
            )
        )
    except GatewayError as exc:
        _fail_on_gateway_error(exc)
    click.echo(f"registered workflow {workflow.id} ({workflow.name})")


@main.command("list-workflows")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_workflows(as_json: bool) -> None:
    """Show registered workflows."""
    from comfyui_gateway.cli.workflows import list_workflows as list_all

    workflows = asyncio.run(list_all(_settings("cli")))
    if as_json:
        rows = [
            {
                "id": w.id,
                "name": w.name,
                "description": w.description,
                "inputs": w.input_schema or {"type": "object", "fields": {}},
            }
            for w in workflows
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not workflows:
        click.echo("no workflows registered (run `comfyui-gateway init`)")
    for workflow in workflows:
        inputs = ", ".join(sorted((workflow.input_schema or {}).get("fields", {})))
        click.echo(f"{workflow.id:<28} {workflow.name:<28} inputs: {inputs}")


@main.command()
@click.argument("workflow_id")
@click.option(
    "--input",
    "-i",
    "pairs",
    multiple=True,
    help="key=value (JSON values keep type); key=@file uploads a file.",
)
@click.option("--priority", type=click.Choice(["high", "normal", "low"]), default=None)
@click.option("--watch", "-w", is_flag=True, help="Follow progress and fetch the outputs.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--target", default=None, help="gRPC address (default 127.0.0.1:GRPC_PORT).")
@click.option("--api-key", envvar="COMFYUI_GATEWAY_API_KEY", default="", help="X-API-Key.")
@click.option("--token", envvar="COMFYUI_GATEWAY_TOKEN", default="", help="Bearer JWT.")
def submit(
    workflow_id: str,
    pairs: tuple[str, ...],
    priority: str | None,
    watch: bool,
    out_dir: Path,
    target: str | None,
    api_key: str,
    token: str,
) -> None:
    """Submit a job; with --watch show a progress bar and download the outputs."""
    import grpc

    from comfyui_gateway.cli.submit import (
        SubmitOptions,
        describe_rpc_error,
        parse_inputs,
        submit_job,
    )

    settings = _settings("cli")
    options = SubmitOptions(
        target=target or f"127.0.0.1:{settings.GRPC_PORT}",
        workflow_id=workflow_id,
        inputs=parse_inputs(pairs),
        priority=priority or "",
        watch=watch,
        out_dir=out_dir,
        api_key=api_key,
        token=token,
    )
    try:
        job = submit_job(options)
    except grpc.RpcError as exc:
        raise click.ClickException(describe_rpc_error(exc, options.target)) from exc
    if job is not None and job.status != "succeeded":
        sys.exit(1)


@main.command()
def run() -> None:
    """Start the gRPC server (and the workers too when REDIS_URL is empty)."""
    from comfyui_gateway.cli import event_loop
    from comfyui_gateway.cli.serve import serve
    from comfyui_gateway.tracing import configure_tracing

    settings = _settings("server")
    tracing = configure_tracing("server")
    try:
        event_loop.run(serve(settings))
    finally:
        tracing.shutdown()


@main.command()
@click.option("--backend", "backends", multiple=True, help="The ComfyUI URL this worker serves.")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
def worker(backends: tuple[str, ...], burst: bool) -> None:
    """Run a worker for the shared mode (needs REDIS_URL): one backend, one job at a time."""
    from comfyui_gateway.cli.worker import WorkerConfigError, run_worker
    from comfyui_gateway.tracing import configure_tracing

    settings = _settings("worker")
    tracing = configure_tracing("worker")
    try:
        run_worker(settings, backends, burst=burst)
    except WorkerConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        tracing.shutdown()


@main.command()
def dev() -> None:
    """Run everything: Envoy, the server, workers, and the emulator if no COMFYUI_URL."""
    from comfyui_gateway.cli.dev import run_dev

    sys.exit(asyncio.run(run_dev(_settings("dev"))))


def _upstream(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not host:port")
    return host.strip("[]"), int(port)


@main.command()
@click.option("--config-out", type=click.Path(path_type=Path), help="Where to write envoy.yaml.")
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    metavar="HOST:PORT",
    help="A gRPC server to balance over (repeat; default GRPC_HOST:GRPC_PORT).",
)
def edge(config_out: Path | None, upstreams: tuple[str, ...]) -> None:
    """Run Envoy alone: REST on PORT in front of one or more gRPC servers."""
    from comfyui_gateway.cli.dev import run_edge

    targets = [_upstream(value) for value in upstreams]
    sys.exit(asyncio.run(run_edge(_settings("edge"), config_out, targets)))


@main.command()
@click.option("--gateway-url", default=None, help="REST base URL (default http://127.0.0.1:PORT).")
def health(gateway_url: str | None) -> None:
    """Check each COMFYUI_URL and the gateway's /health; exit 1 if any is unreachable."""
    from comfyui_gateway.cli.health import check_health

    report, healthy = asyncio.run(check_health(_settings("cli"), gateway_url))
    click.echo(json.dumps(report, indent=2))
    sys.exit(0 if healthy else 1)


@main.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],  # --help goes to the emulator, which lists its options
    }
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Run the bundled ComfyUI emulator alone (e.g. --port 8188; --help lists options)."""
    from comfyui_emulator.cli import main as emulator_main

    sys.exit(emulator_main(list(ctx.args)))
