"""The console's packaged files: found by name only, typed, and complete."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from comfyui_gateway.console import ConsoleAssets, content_type_of
from comfyui_gateway.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"""(?:from|import)\s+["'](/ui/[^"']+)["']""")
LINKED = re.compile(r"""(?:src|href)=["'](/ui/[^"']+)["']""")


@pytest.fixture(scope="module")
def assets() -> ConsoleAssets:
    return ConsoleAssets()


def test_index_for_the_root_and_bare_paths(assets: ConsoleAssets) -> None:
    for path in ("", "/", "index.html"):
        page = assets.get(path)
        assert page.path == "index.html"
        assert page.content_type == "text/html; charset=utf-8"
        assert b"<main" in page.data


@pytest.mark.parametrize(
    "path", ["../__init__.py", "/etc/passwd", "js/../../__init__.py", "nope.js", "js", "%2e%2e/x"]
)
def test_only_packaged_files_are_served(assets: ConsoleAssets, path: str) -> None:
    with pytest.raises(NotFound):
        assets.get(path)


def test_content_types() -> None:
    assert content_type_of("app.js") == "text/javascript; charset=utf-8"
    assert content_type_of("style.css") == "text/css; charset=utf-8"
    assert content_type_of("icon.svg") == "image/svg+xml"


def test_every_module_and_link_the_console_names_exists(assets: ConsoleAssets) -> None:
    named: set[str] = set()
    for path in assets.paths:
        text = assets.get(path).data.decode("utf-8")
        named.update(IMPORT.findall(text))
        named.update(LINKED.findall(text))
    assert named, "the console names no modules"
    missing = {name for name in named if name.removeprefix("/ui/") not in assets.paths}
    assert not missing


def test_nothing_loads_from_elsewhere(assets: ConsoleAssets) -> None:
    for path in assets.paths:
        text = assets.get(path).data.decode("utf-8")
        assert not re.search(r"""["'(]https?://""", text), f"{path} names another origin"


def test_every_asset_ships_in_the_wheel(assets: ConsoleAssets) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["comfyui_gateway.console"]
    for path in assets.paths:
        shipped = PurePosixPath("assets", path)
        # Same number of parts: setuptools' globs do not cross folders.
        assert any(
            len(shipped.parts) == len(PurePosixPath(p).parts) and shipped.match(p) for p in patterns
        ), path
