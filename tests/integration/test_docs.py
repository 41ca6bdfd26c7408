"""Every documented command runs as written: the README's and examples/' blocks, live.

Each Markdown file's fenced blocks run in order against one shared GatewayStack (with
the emulator, ``init`` done, ``WEBHOOK_SECRET``/``WEBHOOK_ALLOWED_DOMAINS=localhost`` as
examples/webhook/README.md tells the reader to set). Shell blocks run in bash with
``set -euo pipefail``; what one block exports (``set -a``) or ``cd``s into carries to the
next, as in one terminal. Python blocks run with this venv's interpreter. Data blocks
(no language, json, yaml, text, ...) are not run; json must parse. Any other language
fails, naming the block: give it a runner here or mark it.

The documented ports (``localhost:3000``, ``:50051``, ...) are rewritten to the stack's
free ports. A block is skipped only when the line directly above it (blank lines
aside) is ``<!-- docs-test: skip (reason) -->`` — for Docker, a GPU, a cluster, or a
command that would run forever. Background processes a block starts (``... &``) live
until the end of their file, then their process group is stopped. A failure names the
block (file:line), shows it as run and its output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.stack import GatewayStack

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "examples").rglob("*.md"))]
SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
SHELL = {"sh", "bash", "shell", "zsh"}
PYTHON = {"python", "py", "python3"}
DATA = {"", "text", "txt", "json", "jsonc", "yaml", "yml", "toml", "ini", "env", "http"}
DATA |= {"diff", "output", "log", "plain", "mermaid", "proto", "protobuf", "csv"}
DOCUMENTED_PORTS = (3000, 3001, 4000, 8188, 9901, 9902, 50051, 50061, 50062)
BLOCK_TIMEOUT_S = 300.0

pytestmark = pytest.mark.timeout(900)


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    code: str
    skip: str | None

    @property
    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


def extract_blocks(path: Path) -> list[Block]:
    """Fenced blocks with their opening line (1-based) and skip reason, if marked."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        above = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = SKIP.match(above)
        code = textwrap.dedent("\n".join(body)) + "\n"
        lang = opening["lang"].lower()
        blocks.append(Block(path, index + 1, lang, code, marker["reason"] if marker else None))
        index = end + 1
    return blocks


def rewrite_ports(code: str, ports: dict[int, int]) -> str:
    """Documented ports (after ``:``, ``=`` or a space) replaced by the test's ones."""
    pattern = "|".join(str(port) for port in ports)
    return re.sub(rf"(?<=[:= ])({pattern})\b", lambda m: str(ports[int(m.group(1))]), code)


class DocRunner:
    """Runs one document's blocks in order, one terminal-like state; see module doc."""

    def __init__(self, stack: GatewayStack, ports: dict[int, int], workdir: Path) -> None:
        self.stack = stack
        self.ports = ports
        self.cwd = workdir
        self.state = workdir / ".docs-state"
        self.env = {
            **stack.env,
            # The venv is not on PATH: a block gets it only by doing what the docs say.
            "PATH": os.pathsep.join(
                entry
                for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                if not entry.rstrip("/").endswith(".venv/bin")
            ),
            "HOME": os.environ.get("HOME", str(workdir)),
            "TERM": "dumb",
        }
        self.env.pop("VIRTUAL_ENV", None)
        self.groups: list[int] = []
        self.timings: list[tuple[str, float]] = []

    def run(self, block: Block) -> None:
        started = time.monotonic()
        self._run(block)
        self.timings.append((block.where, time.monotonic() - started))

    def _run(self, block: Block) -> None:
        code = rewrite_ports(block.code, self.ports)
        if block.lang in SHELL:
            self._shell(block, code)
        elif block.lang in PYTHON:
            self._process(block, code, [sys.executable, "-c", code])
        elif block.lang == "json":
            try:
                json.loads(code)
            except ValueError as exc:
                pytest.fail(f"{block.where}: this json block does not parse: {exc}\n{code}")
        elif block.lang not in DATA:
            pytest.fail(
                f"{block.where}: no runner for a {block.lang!r} block; run it from a shell "
                "block, or mark it `<!-- docs-test: skip (reason) -->`\n" + code
            )

    def _shell(self, block: Block, code: str) -> None:
        prelude = "set -a\n"
        if self.state.exists():
            prelude += f"source {shlex.quote(str(self.state))}\n"
        script = (
            f"{prelude}cd {shlex.quote(str(self.cwd))}\nset -euo pipefail\n{code}\n"
            f"set +u; export -p > {shlex.quote(str(self.state))}.next\n"
            f"pwd > {shlex.quote(str(self.state))}.cwd\n"
        )
        self._process(block, code, ["bash", "-c", script])
        next_state = Path(f"{self.state}.next")
        # Variables bash owns cannot be re-declared; everything else carries over.
        kept = [
            line
            for line in next_state.read_text().splitlines()
            if not re.match(r"declare -[a-z]*r|declare -x (BASH|SHLVL|PWD|OLDPWD|_)\b", line)
        ]
        self.state.write_text("\n".join(kept) + "\n")
        self.cwd = Path(Path(f"{self.state}.cwd").read_text().strip())

    def _process(self, block: Block, code: str, argv: list[str]) -> None:
        output = self.state.parent / f".docs-output-{block.line}"
        with output.open("wb") as sink:
            # Output goes to a file: a background process holding it open must not
            # keep the block from ending.
            process = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.groups.append(process.pid)
            try:
                code_ = process.wait(timeout=BLOCK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code_ = None
        text = output.read_text(errors="replace")
        if code_ != 0:
            verdict = "timed out" if code_ is None else f"exited with {code_}"
            pytest.fail(
                f"{block.where}: {block.lang} block {verdict}\n--- block (as run) ---\n{code}"
                f"--- output ---\n{text[-6000:]}",
                pytrace=False,
            )

    def close(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for group in self.groups:
            while time.monotonic() < deadline and _group_alive(group):
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _untracked() -> set[str]:
    run = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(run.stdout.splitlines())


@pytest.fixture(scope="module")
def untracked_before() -> set[str]:
    return _untracked()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, untracked_before: set[str]
) -> Iterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("docs-stack")
    env = {
        "WEBHOOK_SECRET": "your-webhook-secret",
        "WEBHOOK_ALLOWED_DOMAINS": "localhost",
        "WEBHOOK_RETRY_BASE_MS": "200",
        "LOG_LEVEL": "info",
        "COMFYUI_EMULATOR_STEP_MS": "20",
    }
    with GatewayStack(workdir, env, emulator=True) as gateway:
        subprocess.run(
            [sys.executable, "-m", "comfyui_gateway", "init"],
            env=gateway.env,
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield gateway


def _ports(stack: GatewayStack) -> dict[int, int]:
    ports = {port: free_port() for port in DOCUMENTED_PORTS}
    assert stack.emulator_port is not None
    ports |= {3000: stack.port, 50051: stack.grpc_port, 9901: stack.admin_port}
    ports[8188] = stack.emulator_port
    return ports


def _workdir(tmp_path: Path) -> Path:
    """A folder that looks like the repository root (files land here, not in the tree)."""
    for entry in ROOT.iterdir():
        if entry.name != ".git":
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_block_runs_as_written(document: Path, stack: GatewayStack, tmp_path: Path) -> None:
    runner = DocRunner(stack, _ports(stack), _workdir(tmp_path))
    ran = 0
    try:
        for block in extract_blocks(document):
            if block.skip is None:
                runner.run(block)
                ran += block.lang not in DATA
    finally:
        runner.close()
    print(f"{document.relative_to(ROOT)}: {ran} block(s) run")
    for where, seconds in runner.timings:
        print(f"  {where}: {seconds:.1f}s")


def test_docs_left_nothing_in_the_tree(stack: GatewayStack, untracked_before: set[str]) -> None:
    """Building the examples and installing the client leave nothing git would show."""
    assert _untracked() - untracked_before == set()


def test_the_server_log_is_quiet_and_names_each_job(stack: GatewayStack) -> None:
    log = stack.log("server")
    assert "/grpc.health.v1.Health/Check" not in log  # Envoy's probes log at DEBUG
    started = re.findall(r'"job (\S+) started on (\S+) \(attempt (\d+)\)"', log)
    ended = re.findall(r'"job (\S+) (succeeded|failed[^"]*) on \S+ \(attempt \d+, [\d.]+s\)"', log)
    assert started and ended
    assert {job for job, *_ in ended} <= {job for job, *_ in started}


def test_cli_errors_show_the_gateway_code(stack: GatewayStack, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "comfyui_gateway", "submit", "icon_512", "-i", "steps=0"],
        env={**stack.env, "GRPC_PORT": str(stack.grpc_port)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].startswith("Error: VALIDATION_ERROR: Invalid inputs")
    assert "INVALID_ARGUMENT" not in run.stderr
