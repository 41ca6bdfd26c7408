"""requirements.lock is in step with pyproject.toml: every declared dependency is pinned
inside its declared range, and re-resolving changes nothing (``make lock`` was run)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


def declared() -> list[Requirement]:
    """The project's own dependencies plus the dev extra, as pyproject.toml states them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(text) for text in texts]


def pins() -> dict[str, list[tuple[Version, Marker | None]]]:
    """Each locked package with its version(s); a package may have one pin per marker."""
    found: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match is None:
            continue
        marker = Marker(match["marker"]) if match["marker"] else None
        entry = (Version(match["version"]), marker)
        found.setdefault(canonicalize_name(match["name"]), []).append(entry)
    return found


def lock_command() -> list[str]:
    """The resolver arguments of ``make lock``, read from the Makefile (one place)."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(r"^LOCK_ARGS\s*:=\s*(.+)$", makefile, re.MULTILINE)
    assert match is not None, "Makefile defines LOCK_ARGS"
    return shlex.split(match.group(1))


def test_every_declared_dependency_is_pinned_inside_its_range() -> None:
    locked = pins()
    problems = []
    for requirement in declared():
        entries = locked.get(canonicalize_name(requirement.name), [])
        applicable = [v for v, marker in entries if marker is None or marker.evaluate()]
        if not applicable:
            problems.append(f"{requirement} is not pinned")
        problems += [
            f"{requirement.name}=={v} is outside {requirement.specifier}"
            for v in applicable
            if not requirement.specifier.contains(v, prereleases=True)
        ]
    assert not problems, "requirements.lock is out of step; run `make lock`: " + "; ".join(problems)


def test_every_pin_carries_hashes() -> None:
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    pinned = [block for block in blocks if PIN.match(block.splitlines()[0])]
    assert pinned, "the lock pins packages"
    assert all("--hash=sha256:" in block for block in pinned)


def test_re_resolving_yields_the_same_lock(tmp_path: Path) -> None:
    """The resolver keeps the lock's pins, so a fresh run differs only if pyproject.toml
    changed. Offline first (uv's cache); one online try when the cache lacks metadata."""
    uv = shutil.which("uv", path=str(ROOT / ".venv" / "bin")) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is in the dev extra: run `make dev` or `pip install -r requirements.lock`")
    out = tmp_path / "requirements.lock"
    shutil.copy(LOCK, out)
    argv = [uv, *lock_command(), "-o", str(out)]
    result = subprocess.run(
        [*argv, "--offline"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == LOCK.read_text(), "requirements.lock is stale: run `make lock`"
