"""The ``comfyui-gateway`` command: the composition root, the only code that knows every piece.

Commands stay thin: they load settings once, set up logging, and call into the
modules that do the work (serve, dev, init, workflows, emulator).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from comfyui_gateway.config import Settings, SettingsError, load_settings
from comfyui_gateway.logs import configure_logging


def _settings(component: str) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.LOG_LEVEL, component=component)
    return settings


@click.group()
@click.version_option(package_name="comfyui-gateway")
def main() -> None:
    """ComfyUI Gateway: a secure, durable, observable API in front of ComfyUI."""


@main.command()
def run() -> None:
    """Start the gRPC server (and the workers too when REDIS_URL is empty)."""
    from comfyui_gateway.cli.serve import serve

    asyncio.run(serve(_settings("server")))


@main.command()
@click.option("--backend", "backends", multiple=True, help="ComfyUI URL to serve (repeatable).")
def worker(backends: tuple[str, ...]) -> None:
    """Run a worker for the shared mode (needs REDIS_URL); serves every COMFYUI_URL by default."""
    from comfyui_gateway.cli.worker import WorkerNeedsRedis, run_worker

    try:
        asyncio.run(run_worker(_settings("worker"), backends))
    except WorkerNeedsRedis as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
def dev() -> None:
    """Run everything: Envoy, the server, workers, and the emulator if no COMFYUI_URL."""
    from comfyui_gateway.cli.dev import run_dev

    sys.exit(asyncio.run(run_dev(_settings("dev"))))


@main.command()
@click.option("--config-out", type=click.Path(path_type=Path), help="Where to write envoy.yaml.")
def edge(config_out: Path | None) -> None:
    """Run Envoy alone, serving REST on PORT in front of the gRPC server on GRPC_PORT."""
    from comfyui_gateway.cli.dev import run_edge

    sys.exit(asyncio.run(run_edge(_settings("edge"), config_out)))


@main.command()
@click.option("--gateway-url", default=None, help="REST base URL (default http://127.0.0.1:PORT).")
def health(gateway_url: str | None) -> None:
    """Check ComfyUI connectivity (each COMFYUI_URL) and the gateway's own /health."""
    from comfyui_gateway.cli.health import check_health

    report, healthy = asyncio.run(check_health(_settings("cli"), gateway_url))
    click.echo(json.dumps(report, indent=2))
    sys.exit(0 if healthy else 1)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Run the bundled ComfyUI emulator alone (e.g. --port 8188)."""
    from comfyui_emulator.__main__ import main as emulator_main

    sys.exit(emulator_main(list(ctx.args)))
