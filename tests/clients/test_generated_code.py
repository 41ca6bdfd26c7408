"""The committed client code and OpenAPI documents equal what ``make clients`` makes now."""

from __future__ import annotations

import subprocess
import sys

from tests.clients.conftest import ROOT
from tests.clients.toolchains import TS_CLIENT, npm_ci


def test_committed_generated_code_is_up_to_date() -> None:
    npm_ci(TS_CLIENT)  # ts-proto comes from the client's locked packages
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_clients.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"run `make clients`:\n{run.stderr}"
