"""What a ComfyUI server offers, summarised from its ``GET /object_info``.

Workers publish this summary; the server uses it to check a workflow at registration
(unknown node classes, bad links, models that are not installed) without talking to
ComfyUI itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeCatalogue:
    """Node classes and the facts about them that registration checks need.

    ``choices`` holds every combo (list-valued) input, model lists included: e.g.
    ``choices["CheckpointLoaderSimple"]["ckpt_name"]`` is the installed checkpoints.
    Upload combos (``LoadImage.image``) are left out: their lists change with every
    upload, so a literal there is not an error at registration.

    Usage::

        catalogue = NodeCatalogue.from_object_info(await comfy.get_json("/object_info"))
    """

    outputs: Mapping[str, tuple[str, ...]]
    """Class name -> output types, in output-index order."""
    required_inputs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    choices: Mapping[str, Mapping[str, tuple[Any, ...]]] = field(default_factory=dict)
    output_nodes: frozenset[str] = frozenset()
    """Classes that are graph outputs (SaveImage, PreviewImage, ...)."""

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(self.outputs)

    def has_class(self, class_type: str) -> bool:
        return class_type in self.outputs

    def output_count(self, class_type: str) -> int:
        return len(self.outputs.get(class_type, ()))

    def choices_for(self, class_type: str, input_name: str) -> tuple[Any, ...] | None:
        """The allowed values of a combo input, or ``None`` if it is not a checked combo."""
        return self.choices.get(class_type, {}).get(input_name)

    def models(
        self, class_type: str = "CheckpointLoaderSimple", input_name: str = "ckpt_name"
    ) -> tuple[Any, ...]:
        """Installed model files as one loader lists them (checkpoints by default)."""
        return self.choices_for(class_type, input_name) or ()

    @classmethod
    def from_object_info(cls, object_info: Mapping[str, Any]) -> NodeCatalogue:
        """Build from an ``/object_info``-shaped mapping; malformed classes are skipped."""
        outputs: dict[str, tuple[str, ...]] = {}
        required: dict[str, frozenset[str]] = {}
        choices: dict[str, dict[str, tuple[Any, ...]]] = {}
        output_nodes: set[str] = set()
        for class_type, info in object_info.items():
            if not isinstance(info, Mapping):
                continue
            raw_outputs = info.get("output", [])
            outputs[class_type] = (
                tuple(str(t) for t in raw_outputs) if isinstance(raw_outputs, list) else ()
            )
            if info.get("output_node"):
                output_nodes.add(class_type)
            inputs = info.get("input", {})
            if not isinstance(inputs, Mapping):
                continue
            req = inputs.get("required", {})
            if isinstance(req, Mapping):
                required[class_type] = frozenset(req)
            combos: dict[str, tuple[Any, ...]] = {}
            for section in ("required", "optional"):
                specs = inputs.get(section, {})
                if not isinstance(specs, Mapping):
                    continue
                for name, spec in specs.items():
                    values = combo_values(spec)
                    if values is not None:
                        combos[name] = values
            if combos:
                choices[class_type] = combos
        return cls(outputs, required, choices, frozenset(output_nodes))


def combo_values(spec: Any) -> tuple[Any, ...] | None:
    """The option list of a combo input spec in either form ComfyUI sends, else ``None``.

    Legacy ``[[opt, ...], {opts}]`` and V3 ``["COMBO", {"options": [...]}]``; upload
    combos (``image_upload`` and friends) count as unchecked.
    """
    if not isinstance(spec, list) or not spec:
        return None
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    if any(key.endswith("_upload") and value for key, value in opts.items()):
        return None
    if isinstance(spec[0], list):
        return tuple(spec[0])
    if spec[0] == "COMBO" and isinstance(opts.get("options"), list):
        return tuple(opts["options"])
    return None
