"""Schemathesis against a running gateway: the served OpenAPI document, through Envoy.

One run per caller (an admin key, a user key), each with every check schemathesis has
(server errors; status code, content type, header and response schema conformance;
negative data rejected, positive data accepted; undeclared methods; ignored auth...)
on positive and negative data, bounded by a time budget. The run's JSON report is read
back into a ``FuzzResult``; ``envoy_requests`` counts what went through the edge.

``tests/schemathesis.toml`` holds the one tuning: for operations whose input the
server checks against stored state (a workflow's own inputs, the node catalogue), a
schema-valid body may still be refused with 400, which no static schema can foresee.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.stack import GatewayStack

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
FUZZ_SECONDS_ENV = "FUZZ_SECONDS"
"""``make fuzz`` sets a longer budget per caller through this variable."""
OPEN_EDGE_FINDINGS = {"ST204": frozenset({"QUERY"})}
"""Findings already routed to their owner, by failure code and HTTP method: Envoy's
codec answers an extension method (``QUERY``, ``FOO``) 400 "not valid HTTP" before any
route, where the issue asks 405 with ``Allow`` (branch ``edge``). Tolerated, printed,
never hidden; delete the entry once the edge answers 405."""
DOWNSTREAM_REQUESTS = re.compile(r"^http\.(?!admin)[^.:]+\.downstream_rq_total: (\d+)$", re.M)


@dataclass
class FuzzResult:
    """What one schemathesis run did and found."""

    caller: str
    returncode: int
    output: str
    seed: int | None = None
    test_cases: int = 0
    operations_tested: int = 0
    completed: bool = False
    """Every phase ran to its end (not stopped by the time cap)."""
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    open_findings: list[str] = field(default_factory=list)
    """Failures listed in ``OPEN_EDGE_FINDINGS``: reported, not failing the run."""

    @property
    def clean(self) -> bool:
        exited_well = self.returncode == 0 or bool(self.open_findings)
        return exited_well and not self.failures and not self.errors

    def summary(self) -> str:
        found = "; ".join(self.failures + self.errors) or "nothing"
        known = "; ".join(self.open_findings) or "none"
        return (
            f"{self.caller} (seed {self.seed}, {self.seconds:.0f} s): {self.test_cases} test "
            f"cases over {self.operations_tested} operations; found {found} (open, routed: {known})"
        )


def envoy_requests(stack: GatewayStack) -> int:
    """Requests Envoy's REST listener has taken so far (its own counter)."""
    stats = requests.get(f"http://127.0.0.1:{stack.admin_port}/stats", timeout=10).text
    return sum(int(count) for count in DOWNSTREAM_REQUESTS.findall(stats))


def seeded_config(workdir: Path, known: dict[str, list[str]]) -> Path:
    """``tests/schemathesis.toml`` plus real values the fuzzer draws half of the time for
    the parameters named in ``known`` (``path.jobId``...), so it also reaches the code
    behind a lookup that random ids never pass."""
    lines = [CONFIG.read_text(), "", "[parameters]"]
    tables = []
    for index, (parameter, values) in enumerate(sorted(known.items())):
        tables += ["", f"[dictionaries.known{index}]", f"values = {json.dumps(values)}"]
        lines.append(f'"{parameter}" = {{ dictionary = "known{index}", probability = 0.5 }}')
    path = workdir / "schemathesis.toml"
    path.write_text("\n".join([*lines, *tables]) + "\n")
    return path


def fuzz(
    stack: GatewayStack,
    caller: str,
    headers: dict[str, str],
    *,
    seconds: int,
    workdir: Path,
    seed: int | None = None,
    max_examples: int | None = None,
    config: Path = CONFIG,
) -> FuzzResult:
    """Run schemathesis as ``caller`` for at most ``seconds`` (and ``max_examples`` cases
    per operation and phase, when given); its report lands in ``workdir``."""
    report = workdir / f"schemathesis-{caller}.json"
    argv = [str(SCHEMATHESIS), "--config-file", str(config), "--no-color", "run"]
    argv += [f"{stack.base_url}/openapi.json", "--url", stack.base_url]
    argv += ["--checks", "all", "--mode", "all", "--max-time", str(seconds)]
    # One worker: hypothesis's lambda-source cache is not thread-safe (two threads made
    # "AST constructor recursion depth mismatch" runtime errors); callers run in parallel
    # as separate processes instead.
    argv += ["--workers", "1", "--request-timeout", "30", "--suppress-health-check", "all"]
    argv += ["--report", "json", "--report-json-path", str(report)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if max_examples is not None:
        argv += ["--max-examples", str(max_examples)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    completed = subprocess.run(
        argv, cwd=workdir, capture_output=True, text=True, timeout=seconds + 300
    )
    result = FuzzResult(caller, completed.returncode, completed.stdout + completed.stderr, seed)
    (workdir / f"schemathesis-{caller}.log").write_text(result.output)
    if report.exists():
        read_report(json.loads(report.read_text()), result)
    else:
        result.errors.append("schemathesis wrote no report")
    return result


def read_report(document: dict[str, Any], result: FuzzResult) -> None:
    """Fill ``result`` from schemathesis's JSON run report."""
    result.test_cases = int(document["test_cases"]["generated"])
    result.operations_tested = int(document["operations"]["tested"])
    result.completed = document.get("stop_reason") != "max_time"
    result.seconds = float(document.get("running_time", 0.0))
    for failure in document["failures"]:
        where = ", ".join(failure["operations"])
        text = f"{failure['code']} {failure['title']} x{failure['count']}: {where}"
        methods = {operation.split(" ", 1)[0] for operation in failure["operations"]}
        if methods <= OPEN_EDGE_FINDINGS.get(failure["code"], frozenset()):
            result.open_findings.append(text)
        else:
            result.failures.append(text)
    if document["errors"]:
        titles = ", ".join(f"{e['title']} x{e['count']}" for e in document["errors"])
        result.errors.append(f"errors {titles}: {section(result.output, 'ERRORS')[:6000]}")


def section(output: str, title: str) -> str:
    """One ``==== TITLE ====`` section of schemathesis's console report (its details)."""
    match = re.search(rf"^=+ {title} =+$(.*?)(?=^=+ [A-Z ]+ =+$|\Z)", output, re.M | re.S)
    return match.group(1).strip() if match else ""
