"""The vendored webhook receivers are the description's code, unmodified."""

from __future__ import annotations

from tests.unit.test_reference_copies import HEADER_LINES, ROOT, _code_lines, _description

RECEIVERS = ROOT / "tests" / "receivers"


def _vendored(name: str) -> list[str]:
    text = (RECEIVERS / name).read_text(encoding="utf-8")
    return _code_lines(text.split("\n", HEADER_LINES)[HEADER_LINES])


def _between(start_marker: str, end_marker: str) -> list[str]:
    description = _description()
    start = description.index(start_marker) + len(start_marker)
    return _code_lines(description[start : description.index(end_marker, start)])


def test_express_receiver_is_verbatim() -> None:
    assert _vendored("webhook-receiver.js") == _between("File: webhook-receiver.js", "\nRun\n")


def test_n8n_signature_check_is_verbatim() -> None:
    expected = _between(
        "Add a Code node before the IF to verify the webhook signature:",
        "Step 5: Add WEBHOOK_ALLOWED_DOMAINS",
    )
    assert _vendored("n8n-hmac-check.js") == expected
