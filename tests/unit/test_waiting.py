"""RFC 7240 ``Prefer`` parsing for synchronous answers (jobs/waiting.py)."""

from __future__ import annotations

import pytest

from comfyui_gateway.jobs.waiting import MAX_WAIT_S, Preference, parse_prefer


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], Preference()),
        (["wait=60"], Preference(wait_s=60)),
        (["return=representation; wait=10"], Preference(wait_s=10, representation=True)),
        (["respond-async, wait=5"], Preference(wait_s=5)),
        (["return=minimal", "wait=7"], Preference(wait_s=7)),
        (["WAIT = 3"], Preference(wait_s=3)),
        (['wait="4"'], Preference(wait_s=4)),
        ([f"wait={MAX_WAIT_S * 10}"], Preference(wait_s=MAX_WAIT_S)),
        (["wait=-1", "wait=soon", "wait="], Preference()),
        (["handling=lenient"], Preference()),
    ],
)
def test_parse_prefer(values: list[str], expected: Preference) -> None:
    assert parse_prefer(values) == expected
