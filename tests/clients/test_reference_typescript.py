"""The description's TypeScript fetch client, unmodified, against a live gateway (REST).

tests/reference/comfyui-client.ts is vendored verbatim (checked by
tests/unit/test_reference_ts_copy.py), compiled with ``typescript`` from npm in strict
mode, and driven by tests/reference/reference-harness.ts through every method.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from tests.clients.conftest import ROOT
from tests.clients.toolchains import TS_CLIENT, npm_ci, tsc
from tests.stack import GatewayStack


def test_reference_client_runs_unmodified(gateway: GatewayStack, tmp_path: Path) -> None:
    npm_ci(TS_CLIENT)  # provides tsc
    project = tmp_path / "tsconfig.json"
    reference = ROOT / "tests" / "reference"
    project.write_text(
        json.dumps(
            {
                "extends": str(reference / "tsconfig.json"),
                "compilerOptions": {"outDir": str(tmp_path / "out")},
                "files": [
                    str(reference / "comfyui-client.ts"),
                    str(reference / "reference-harness.ts"),
                ],
            }
        )
    )
    tsc(project)
    run = subprocess.run(
        ["node", str(tmp_path / "out" / "reference-harness.js"), gateway.base_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    steps: dict[str, Any] = {}
    for line in run.stdout.splitlines():
        record = json.loads(line)
        steps[record["step"]] = record["value"]

    assert steps["health"]["ok"] is True and steps["health"]["comfyui"]["reachable"] is True
    assert {"maxSize", "maxBatch", "formats", "storageProvider"} <= set(steps["capabilities"])
    assert "icon_512" in {w["id"] for w in steps["workflows"]}
    assert steps["workflow"]["id"] == "icon_512"
    result = steps["generate"]["result"]
    assert result["status"] == "succeeded" and result["progress"] == 100
    assert steps["generate"]["seen"][-1] == "succeeded:100"
    output = result["outputs"][0]
    assert steps["outputs"][0]["sha256"] == output["sha256"]
    assert steps["base64"]["contentType"] == "image/png"
    assert steps["base64"]["size"] == output["size"]
    assert steps["download"] == {"size": output["size"], "type": "image/png"}
    assert result["jobId"] in {job["jobId"] for job in steps["jobs"]["jobs"]}
    assert steps["submit"]["status"] == "queued"
    # A queued job is cancelled at once; a running one answers "cancelling" while ComfyUI
    # is interrupted, and its record follows shortly.
    assert steps["cancel"]["status"] in ("cancelled", "cancelling")
    assert steps["job"]["status"] in ("running", "cancelled")
    deadline = time.monotonic() + 15
    while (
        requests.get(f"{gateway.base_url}/jobs/{steps['submit']['jobId']}", timeout=5).json()[
            "status"
        ]
        != "cancelled"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert steps["missing"].startswith("Error: Gateway error 404: ")
