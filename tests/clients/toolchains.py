"""Building the TypeScript and Go clients for the tests, from the project's own files.

Node packages come from the committed package-lock.json files (``npm ci``); Go builds
in GOPATH mode against Debian's packages under /usr/share/gocode (grpc-go, protobuf,
genproto), since the Go module proxy is not used. ``make clients-deps`` installs the
toolchains; a missing one fails the tests, it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TS_CLIENT = ROOT / "clients" / "typescript"
GO_MODULE_ROOT = "github.com/comfyui-gateway/comfyui-gateway"
DEBIAN_GOCODE = Path("/usr/share/gocode")


def npm_ci(folder: Path) -> None:
    """Install ``folder``'s locked node packages unless its lock is already installed."""
    installed = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, timeout=300)


def tsc(project: Path) -> None:
    binary = TS_CLIENT / "node_modules" / ".bin" / "tsc"
    run = subprocess.run(
        [str(binary), "-p", str(project)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr


def go_build(package: str, output: Path, gopath: Path) -> None:
    """``go build`` a package of this repository in GOPATH mode (see module docstring)."""
    go = shutil.which("go")
    assert go is not None, "Go missing: run `make clients-deps` (apt-get install golang-go ...)"
    link = gopath / "src" / GO_MODULE_ROOT
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(ROOT)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{gopath}{os.pathsep}{DEBIAN_GOCODE}",
        # The default build cache (~/.cache/go-build) outlives the test: compiling
        # grpc-go from Debian's sources takes about a minute the first time only.
        "GOFLAGS": "",
    }
    run = subprocess.run(
        [go, "build", "-o", str(output), f"./{package}"],
        cwd=link,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
