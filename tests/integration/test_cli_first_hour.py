"""CLI answers a newcomer can act on: one line naming DATABASE_URL and the fix, a health
probe that fails when the gateway is down, the inputs in ``list-workflows --json``, the
emulator's options under ``--help``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.ports import free_port


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_URL", "REDIS_URL")}
    full_env |= {
        "DATABASE_URL": str(tmp_path / "gateway.db"),
        "STORAGE_LOCAL_PATH": str(tmp_path / "outputs"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "comfyui_gateway", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["init", "run", "list-workflows"])
def test_a_missing_postgres_database_is_one_line_with_the_fix(tmp_path: Path, command: str) -> None:
    name = f"gw_missing_{uuid.uuid4().hex[:10]}"  # never created
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    run = cli(tmp_path, command, DATABASE_URL=url, GRPC_PORT=str(free_port()))
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[-1] == (
        f'Error: DATABASE_URL: PostgreSQL at 127.0.0.1:5432 has no database "{name}"; '
        f"create it with `createdb -h 127.0.0.1 -p 5432 -U postgres {name}` "
        f'(or CREATE DATABASE "{name}";)'
    )
    assert "Traceback" not in run.stderr


def test_an_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    run = cli(tmp_path, "init", DATABASE_URL=f"postgres://u:secret@127.0.0.1:{port}/db")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        f"Error: DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port} "
        "(connection refused): is it running?"
    )
    assert "secret" not in run.stderr


def test_an_unknown_scheme_is_one_line(tmp_path: Path) -> None:
    run = cli(tmp_path, "init", DATABASE_URL="mysql://db/x")
    assert run.returncode == 1
    assert run.stderr.startswith("Error: DATABASE_URL scheme 'mysql' is not supported")
    assert "Traceback" not in run.stderr


def test_health_fails_when_the_gateway_is_unreachable(tmp_path: Path) -> None:
    run = cli(tmp_path, "health", PORT=str(free_port()), COMFYUI_URL="http://127.0.0.1:1")
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["gateway"]["status"] is None and report["gateway"]["error"]


def test_list_workflows_json_includes_the_inputs(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    rows = json.loads(cli(tmp_path, "list-workflows", "--json").stdout)
    icon = next(row for row in rows if row["id"] == "icon_512")
    assert icon["inputs"]["type"] == "object"
    assert icon["inputs"]["fields"]["prompt"]["type"] == "string"


def test_submit_errors_show_the_gateway_code(tmp_path: Path) -> None:
    run = cli(tmp_path, "submit", "icon_512", "--target", f"127.0.0.1:{free_port()}")
    assert run.returncode == 1
    assert "cannot reach the gateway at 127.0.0.1:" in run.stderr
    assert "UNAVAILABLE:" not in run.stderr


def test_emulator_help_lists_its_options(tmp_path: Path) -> None:
    run = cli(tmp_path, "emulator", "--help")
    assert run.returncode == 0
    for option in ("--host", "--port", "--dir", "--step-ms"):
        assert option in run.stdout
