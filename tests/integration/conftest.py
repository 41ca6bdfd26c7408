"""Integration fixtures: a real gateway (server + Envoy) per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import GatewayStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    """A gateway with no reachable ComfyUI, CORS limited to one origin, a 64 KiB body limit."""
    workdir: Path = tmp_path_factory.mktemp("stack")
    env = {"CORS_ORIGINS": "https://app.example", "MAX_REQUEST_BYTES": str(64 * 1024)}
    with GatewayStack(workdir, env) as running:
        yield running
