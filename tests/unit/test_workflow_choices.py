"""Submission-time combo checks: merged catalogues, the field a problem names."""

from __future__ import annotations

from typing import Any

from comfyui_gateway.backends import MemoryBackendReports
from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.choices import CatalogueSource, check_rendered_choices, merge


def info(*checkpoints: str) -> dict[str, Any]:
    return {
        "CheckpointLoaderSimple": {
            "input": {"required": {"ckpt_name": [list(checkpoints), {}]}},
            "output": ["MODEL", "CLIP", "VAE"],
        },
        "KSampler": {
            "input": {"required": {"sampler_name": [["euler", "dpmpp_2m"], {}]}},
            "output": ["LATENT"],
        },
    }


TEMPLATE = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
    "3": {"class_type": "KSampler", "inputs": {"sampler_name": "euler", "model": ["4", 0]}},
}


def rendered(checkpoint: str, sampler: str = "euler") -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "3": {"class_type": "KSampler", "inputs": {"sampler_name": sampler, "model": ["4", 0]}},
    }


def test_a_value_any_backend_offers_is_accepted() -> None:
    catalogue = merge(
        [
            NodeCatalogue.from_object_info(info("a.safetensors")),
            NodeCatalogue.from_object_info(info("b.safetensors")),
        ]
    )
    assert not check_rendered_choices(TEMPLATE, rendered("b.safetensors"), catalogue)


def test_problems_name_the_input_or_the_node_and_never_the_value() -> None:
    catalogue = NodeCatalogue.from_object_info(info("a.safetensors"))
    problems = check_rendered_choices(TEMPLATE, rendered("../../etc/passwd", "bogus"), catalogue)
    assert problems.fields() == ["inputs.checkpoint", "workflowJson.3.inputs.sampler_name"]
    assert not any(
        "passwd" in item["message"] or "bogus" in item["message"] for item in problems.items
    )


async def test_nothing_is_checked_until_every_backend_has_published() -> None:
    reports = MemoryBackendReports()
    await reports.publish_catalogue("http://a", info("a.safetensors"))
    assert await CatalogueSource(reports, ["http://a", "http://b"]).current() is None
    await reports.publish_catalogue("http://b", info("b.safetensors"))
    merged = await CatalogueSource(reports, ["http://a", "http://b"]).current()
    assert merged is not None
    assert merged.models() == ("a.safetensors", "b.safetensors")
