"""Dependencies point inward (DESIGN.md): the core never imports adapters or gRPC."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "comfyui_gateway"
COMPOSITION_ROOT = CORE / "cli"
FORBIDDEN_IN_CORE = ("server", "worker", "comfyui_emulator", "grpc", "comfyui_gateway.v1")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _core_modules() -> list[Path]:
    return [
        path
        for path in CORE.rglob("*.py")
        if COMPOSITION_ROOT not in path.parents and (CORE / "v1") not in path.parents
    ]


def test_core_imports_no_adapter_and_no_grpc() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imports(path)
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_CORE)
        )
        for path in _core_modules()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_emulator_stands_alone() -> None:
    for path in (ROOT / "comfyui_emulator").rglob("*.py"):
        bad = [
            name
            for name in _imports(path)
            if name.split(".")[0] in ("comfyui_gateway", "server", "worker")
        ]
        assert bad == [], path


def test_the_media_package_is_core() -> None:
    """comfyui_gateway/media (input fetch, checks, storage) obeys the core's rules too."""
    media = [path for path in _core_modules() if (CORE / "media") in path.parents]
    assert len(media) >= 8


def test_the_admission_and_eta_packages_are_core() -> None:
    """comfyui_gateway/admission (quotas, back-pressure) and eta obey the core's rules."""
    modules = _core_modules()
    assert len([p for p in modules if (CORE / "admission") in p.parents]) >= 6
    assert len([p for p in modules if (CORE / "eta") in p.parents]) >= 5
