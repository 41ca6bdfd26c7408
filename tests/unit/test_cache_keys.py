"""Cache keys: canonical, typed, sensitive to every part of the recipe."""

from __future__ import annotations

from comfyui_gateway.cache.keys import (
    cache_key,
    canonical_json,
    checkpoint_names,
    inputs_digest,
    is_cacheable,
)
from comfyui_gateway.workflows.inputs import ResolvedInputs

BASE = cache_key("wf", {"prompt": "cat", "steps": 30, "cfg": 7.5}, {"a": 1}, "m.safetensors")


def test_key_is_sha256_hex() -> None:
    assert len(BASE) == 64 and int(BASE, 16) >= 0


def test_order_and_integral_floats_do_not_matter() -> None:
    same = cache_key(
        "wf", {"cfg": 7.5, "steps": 30.0, "prompt": "cat"}, {"a": 1.0}, "m.safetensors"
    )
    assert same == BASE


def test_every_part_matters() -> None:
    variants = [
        cache_key("wf2", {"prompt": "cat", "steps": 30, "cfg": 7.5}, {"a": 1}, "m.safetensors"),
        cache_key("wf", {"prompt": "dog", "steps": 30, "cfg": 7.5}, {"a": 1}, "m.safetensors"),
        cache_key("wf", {"prompt": "cat", "steps": "30", "cfg": 7.5}, {"a": 1}, "m.safetensors"),
        cache_key("wf", {"prompt": "cat", "steps": 30, "cfg": 7.5}, {"a": 2}, "m.safetensors"),
        cache_key("wf", {"prompt": "cat", "steps": 30, "cfg": 7.5}, {"a": 1}, "n.safetensors"),
        cache_key("wf", {"prompt": "cat", "steps": 30, "cfg": 7.5}, {"a": 1}, None),
        cache_key(
            "wf",
            {"prompt": "cat", "steps": 30, "cfg": 7.5},
            {"a": 1},
            "m.safetensors",
            workflow_version=2,
        ),
    ]
    assert len({BASE, *variants}) == len(variants) + 1


def test_no_ambiguity_between_fields() -> None:
    """Concatenation-style keys would confuse these two; canonical JSON does not."""
    assert cache_key("a", {"b": "c"}, {}, None) != cache_key("a", {}, {"b": "c"}, None)
    assert cache_key("ab", {}, {}, None) != cache_key("a", {"": "b"}, {}, None)


def test_canonical_json() -> None:
    assert canonical_json({"b": 1.0, "a": [2.0, "é"]}) == '{"a":[2,"é"],"b":1}'
    assert canonical_json({"x": True}) != canonical_json({"x": 1})


def test_random_seeds_are_never_cacheable() -> None:
    assert not is_cacheable(ResolvedInputs({"seed": 5}, seed=5, random_seed=True))
    assert is_cacheable(ResolvedInputs({"seed": 5}, seed=5, random_seed=False))
    assert is_cacheable(ResolvedInputs({}, seed=None, random_seed=False))


def test_inputs_digest_is_canonical() -> None:
    assert inputs_digest({"a": 1, "b": 2.0}) == inputs_digest({"b": 2, "a": 1.0})


def test_checkpoint_names_from_rendered_graph() -> None:
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}},
        "5": {"class_type": "UNETLoader", "inputs": {"unet_name": "a.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "ckpt_name"}},
    }
    assert checkpoint_names(graph) == "a.safetensors|b.safetensors"
    assert checkpoint_names({"1": {"class_type": "X", "inputs": {}}}) is None
