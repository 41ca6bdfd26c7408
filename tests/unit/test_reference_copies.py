"""The vendored reference clients are the description's code, unmodified."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION_CANDIDATES = [
    ROOT.parent / "shared" / "reference" / "000_0ca582acf04f4613.txt",
    ROOT / "shared" / "reference" / "000_0ca582acf04f4613.txt",
]
HEADER_LINES = 3


def _description() -> str:
    for candidate in DESCRIPTION_CANDIDATES:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    pytest.fail("the product description (shared/reference) is not beside the repository")


def _code_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_python_client_is_verbatim() -> None:
    vendored = (ROOT / "tests" / "reference" / "comfyui_client.py").read_text(encoding="utf-8")
    body = vendored.split("\n", HEADER_LINES)[HEADER_LINES]
    description = _description()
    start = description.index("File: comfyui_client.py") + len("File: comfyui_client.py")
    end = description.index("6. JavaScript/TypeScript Fetch Client")
    assert _code_lines(body) == _code_lines(description[start:end])
