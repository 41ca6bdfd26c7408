"""The vendored TypeScript fetch client is the description's code, unmodified."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_reference_copies import HEADER_LINES, _code_lines, _description

ROOT = Path(__file__).resolve().parents[2]


def test_typescript_client_is_verbatim() -> None:
    vendored = (ROOT / "tests" / "reference" / "comfyui-client.ts").read_text(encoding="utf-8")
    body = vendored.split("\n", HEADER_LINES)[HEADER_LINES]
    description = _description()
    start = description.index("File: comfyui-client.ts") + len("File: comfyui-client.ts")
    end = description.index("7. Webhook Receiver (Express.js + HMAC)")
    assert _code_lines(body) == _code_lines(description[start:end])
