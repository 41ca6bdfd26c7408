"""The graph is rewritten to the names ComfyUI answered, and nothing else changes."""

from __future__ import annotations

from typing import Any

from worker.inputs import substitute

PLANNED = "gateway/" + "a" * 64 + ".png"


def test_only_values_equal_to_a_planned_name_are_renamed() -> None:
    graph: dict[str, Any] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": PLANNED}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": f"see {PLANNED}"}},
    }
    fixed = substitute(graph, {PLANNED: "gateway/" + "a" * 64 + " (1).png"})
    assert fixed["1"]["inputs"]["image"].endswith(" (1).png")
    assert fixed["2"] == graph["2"] and fixed["3"] == graph["3"]
    assert graph["1"]["inputs"]["image"] == PLANNED  # the original is left alone
