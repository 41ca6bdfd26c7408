""".env.example documents every setting, with its default."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values

from comfyui_gateway.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    documented = set(dotenv_values(ROOT / ".env.example"))
    assert documented == set(Settings.model_fields)


def test_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    from_example = load_settings(ROOT / ".env.example")
    defaults = load_settings(None)
    assert from_example == defaults
