"""Privacy mode: free text redacted, the graph sealed and opened, off means untouched."""

from __future__ import annotations

import json

import pytest

from comfyui_gateway.config import load_settings
from comfyui_gateway.errors import GatewayError
from comfyui_gateway.privacy import Privacy, redact_text

SCHEMA = {
    "type": "object",
    "fields": {
        "prompt": {"type": "string", "required": True},
        "negative_prompt": {"type": "string"},
        "sampler": {"type": "string", "enum": ["euler", "dpmpp_2m"]},
        "steps": {"type": "integer"},
    },
}


def test_every_free_text_value_is_redacted() -> None:
    privacy = Privacy(True, "secret")
    stored = privacy.redact_inputs(
        {
            "prompt": "a red fox",
            "negative_prompt": "blurry",
            "sampler": "euler",
            "steps": 20,
            "extra": {"note": "hidden", "tags": ["x", 3]},
        },
        SCHEMA,
    )
    assert stored["prompt"] == redact_text("a red fox")
    assert stored["prompt"].startswith("[redacted sha256:") and len(stored["prompt"]) == 30
    assert stored["negative_prompt"] == redact_text("blurry")
    assert stored["sampler"] == "euler"  # an enum value is not free text
    assert stored["steps"] == 20
    assert stored["extra"] == {"note": redact_text("hidden"), "tags": [redact_text("x"), 3]}
    assert "fox" not in json.dumps(stored)


def test_enum_field_with_a_value_outside_the_enum_is_redacted() -> None:
    stored = Privacy(True, "secret").redact_inputs({"sampler": "my secret"}, SCHEMA)
    assert stored["sampler"] == redact_text("my secret")


def test_off_means_untouched() -> None:
    privacy = Privacy(False)
    assert privacy.redact_inputs({"prompt": "a fox"}, SCHEMA) == {"prompt": "a fox"}
    assert privacy.seal_graph('{"1":{}}') == '{"1":{}}'


def test_graph_is_sealed_and_opens_with_the_same_secret_only() -> None:
    graph = json.dumps({"6": {"inputs": {"text": "a unique red fox"}}})
    sealed = Privacy(True, "secret-1").seal_graph(graph)
    assert sealed.startswith("fernet:") and "fox" not in sealed
    assert Privacy(True, "secret-1").open_graph(sealed) == graph
    assert Privacy(False, "secret-1").open_graph(sealed) == graph  # turned off later
    with pytest.raises(GatewayError, match="cannot be decrypted"):
        Privacy(True, "secret-2").open_graph(sealed)
    with pytest.raises(GatewayError, match="encrypted"):
        Privacy(False).open_graph(sealed)
    assert Privacy(True, "secret-1").open_graph(graph) == graph  # stored before privacy


def test_key_material_from_settings() -> None:
    jwt_secret = "j" * 40
    from_jwt = load_settings(None, PRIVACY_MODE=True, JWT_SECRET=jwt_secret)
    explicit = load_settings(None, PRIVACY_MODE=True, PRIVACY_KEY="p" * 40, JWT_SECRET=jwt_secret)
    assert from_jwt.privacy_key_material == jwt_secret
    assert explicit.privacy_key_material == "p" * 40
    sealed = Privacy.from_settings(from_jwt).seal_graph("{}")
    again = load_settings(None, PRIVACY_MODE=True, JWT_SECRET=jwt_secret)
    assert Privacy.from_settings(again).open_graph(sealed) == "{}"  # another process


def test_embedded_mode_gets_a_random_process_secret() -> None:
    one = load_settings(None, PRIVACY_MODE=True)
    two = load_settings(None, PRIVACY_MODE=True)
    assert one.privacy_key_material and one.privacy_key_material != two.privacy_key_material
    assert load_settings(None).privacy_key_material == ""


def test_shared_mode_without_any_secret_refuses_to_start() -> None:
    from comfyui_gateway.config import SettingsError

    with pytest.raises(SettingsError, match="PRIVACY_KEY"):
        load_settings(None, PRIVACY_MODE=True, REDIS_URL="redis://127.0.0.1:6379/0")
    load_settings(None, PRIVACY_MODE=True, REDIS_URL="redis://x:6379/0", WEBHOOK_SECRET="w")
