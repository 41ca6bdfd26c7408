"""``POST /prompt`` validation, mirroring ComfyUI's ``execution.validate_prompt``.

The structure (recursion over linked inputs, exceptions caught at the same two levels,
errors only reported on the node that owns them) is kept as in ComfyUI so that every row of
the 400 table comes out with the same ``type``, ``message``, ``details`` and ``extra_info``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from comfyui_emulator.catalogue import Catalogue

Reason = dict[str, Any]
BAD_LINK = "Bad linked input, must be a length-2 list of [node_id, slot_index]"
Validated = dict[str, tuple[bool, list[Reason], str]]
#: Classes whose ``image`` names a file under input/ (checked for existence only).
FILE_LOADERS = ("LoadImage", "LoadImageMask")


@dataclass
class ValidationResult:
    """``(ok, error, good_outputs, node_errors)`` of ``validate_prompt``, named."""

    ok: bool
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


def _error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def _type_name(exc: BaseException) -> str:
    module = type(exc).__module__
    name = type(exc).__qualname__
    return name if module == "builtins" else f"{module}.{name}"


def _types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's ``validate_node_input``: ``*`` matches all, unions are comma lists."""
    if received == expected or received == "*" or expected == "*":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    return set(received.split(",")) <= set(expected.split(","))


class PromptValidator:
    """Validates a prompt against the catalogue; ``image_exists`` backs LoadImage's check.

    Usage: ``PromptValidator(catalogue, exists).validate(prompt, targets)``.
    """

    def __init__(self, catalogue: Catalogue, image_exists: Callable[[str], bool]) -> None:
        self._catalogue = catalogue
        self._image_exists = image_exists

    def validate(self, prompt: dict[str, Any], targets: list[str] | None) -> ValidationResult:
        outputs: list[str] = []
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                message = "Cannot execute because a node is missing the class_type property."
                return ValidationResult(
                    False, _error("invalid_prompt", message, f"Node ID '#{node_id}'")
                )
            class_type = node["class_type"]
            if not isinstance(class_type, str) or not self._catalogue.has(class_type):
                message = f"Cannot execute because node {class_type} does not exist."
                return ValidationResult(
                    False, _error("invalid_prompt", message, f"Node ID '#{node_id}'")
                )
            if self._catalogue.static(class_type).get("output_node") is True and (
                targets is None or node_id in targets
            ):
                outputs.append(node_id)
        if not outputs:
            return ValidationResult(False, _error("prompt_no_outputs", "Prompt has no outputs"))

        good: list[str] = []
        failures: list[tuple[str, list[Reason]]] = []
        node_errors: dict[str, Any] = {}
        validated: Validated = {}
        for output in outputs:
            if self._has_cycle(prompt, output):
                # ComfyUI rejects a cyclic graph without naming a node.
                validated.setdefault(output, (False, [], output))
                failures.append((output, []))
                continue
            try:
                valid, reasons, _ = self._inputs(prompt, output, validated)
            except Exception as exc:
                valid = False
                reasons = [
                    {
                        "type": "exception_during_validation",
                        "message": "Exception when validating node",
                        "details": str(exc),
                        "extra_info": {
                            "exception_type": _type_name(exc),
                            "traceback": traceback.format_tb(exc.__traceback__),
                        },
                    }
                ]
                validated[output] = (False, reasons, output)
            if valid:
                good.append(output)
                continue
            failures.append((output, reasons))
            for node_id, (ok, node_reasons, _) in validated.items():
                if ok or not node_reasons or node_id not in prompt:
                    continue
                entry = node_errors.setdefault(
                    node_id,
                    {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    },
                )
                entry["dependent_outputs"].append(output)
        if not good:
            details = "\n".join(
                f"{reason['message']}: {reason['details']}"
                for _, reasons in failures
                for reason in reasons
            )
            error = _error(
                "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
            )
            return ValidationResult(False, error, [], node_errors)
        return ValidationResult(True, None, good, node_errors)

    def _has_cycle(self, prompt: dict[str, Any], start: str) -> bool:
        state: dict[str, int] = {}

        def visit(node_id: str) -> bool:
            state[node_id] = 1
            node = prompt.get(node_id)
            inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
            for value in inputs.values() if isinstance(inputs, dict) else ():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    mark = state.get(value[0], 0)
                    if mark == 1 or (mark == 0 and value[0] in prompt and visit(value[0])):
                        return True
            state[node_id] = 2
            return False

        return visit(start)

    def _inputs(
        self, prompt: dict[str, Any], unique_id: str, validated: Validated
    ) -> tuple[bool, list[Reason], str]:
        if unique_id in validated:
            return validated[unique_id]
        node = prompt[unique_id]
        inputs: dict[str, Any] = node.get("inputs", {})
        class_type: str = node["class_type"]
        class_inputs = self._catalogue.entry(class_type)["input"]
        errors: list[Reason] = []
        valid = True
        # The image loaders validate their file themselves (VALIDATE_INPUTS), so that
        # combo is not checked against the listing.
        custom = ("image",) if class_type in FILE_LOADERS else ()

        for category in ("required", "optional"):
            for name, spec in class_inputs.get(category, {}).items():
                input_type = spec[0]
                extra: dict[str, Any] = spec[1] if len(spec) > 1 else {}
                info = [input_type, extra]
                if name not in inputs:
                    if category == "required":
                        errors.append(
                            {
                                "type": "required_input_missing",
                                "message": "Required input is missing",
                                "details": name,
                                "extra_info": {"input_name": name},
                            }
                        )
                    continue
                value = inputs[name]
                if isinstance(value, list):
                    if len(value) != 2:
                        errors.append(
                            {
                                "type": "bad_linked_input",
                                "message": BAD_LINK,
                                "details": name,
                                "extra_info": {
                                    "input_name": name,
                                    "input_config": info,
                                    "received_value": value,
                                },
                            }
                        )
                        continue
                    linked_id = value[0]
                    linked_class = prompt[linked_id]["class_type"]
                    received = tuple(self._catalogue.static(linked_class)["output"])[value[1]]
                    if not _types_match(received, input_type):
                        errors.append(
                            {
                                "type": "return_type_mismatch",
                                "message": "Return type mismatch between linked nodes",
                                "details": (
                                    f"{name}, received_type({received}) "
                                    f"mismatch input_type({input_type})"
                                ),
                                "extra_info": {
                                    "input_name": name,
                                    "input_config": info,
                                    "received_type": received,
                                    "linked_node": value,
                                },
                            }
                        )
                        continue
                    try:
                        if not self._inputs(prompt, linked_id, validated)[0]:
                            valid = False
                    except Exception as exc:
                        # Recorded on the linked node, which raised while checking its links.
                        valid = False
                        validated[linked_id] = (
                            False,
                            [self._inner(exc, name, info, value)],
                            linked_id,
                        )
                    continue

                if isinstance(value, dict) and "__value__" in value:
                    value = value["__value__"]
                try:
                    value = _convert(input_type, value)
                    inputs[name] = value
                except Exception as exc:
                    errors.append(
                        {
                            "type": "invalid_input_type",
                            "message": f"Failed to convert an input value to a {input_type} value",
                            "details": f"{name}, {value}, {exc}",
                            "extra_info": {
                                "input_name": name,
                                "input_config": info,
                                "received_value": value,
                                "exception_message": str(exc),
                            },
                        }
                    )
                    continue
                if name in custom:
                    continue
                error = _range_or_combo(name, value, input_type, extra, info)
                if error is not None:
                    errors.append(error)

        if (
            class_type in FILE_LOADERS
            and "image" in inputs
            and not isinstance(inputs["image"], list)
        ):
            image = str(inputs["image"])
            if not self._image_exists(image):
                # Observed on 0.3.64: extra_info carries the input name only.
                errors.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"image - Invalid image file: {image}",
                        "extra_info": {"input_name": "image"},
                    }
                )

        result = (False, errors, unique_id) if errors or not valid else (True, [], unique_id)
        validated[unique_id] = result
        return result

    @staticmethod
    def _inner(exc: Exception, name: str, info: list[Any], linked: list[Any]) -> Reason:
        return {
            "type": "exception_during_inner_validation",
            "message": "Exception when validating inner node",
            "details": str(exc),
            "extra_info": {
                "input_name": name,
                "input_config": info,
                "exception_message": str(exc),
                "exception_type": _type_name(exc),
                "traceback": traceback.format_tb(exc.__traceback__),
                "linked_node": linked,
            },
        }


def _convert(input_type: Any, value: Any) -> Any:
    if input_type == "INT":
        return int(value)
    if input_type == "FLOAT":
        return float(value)
    if input_type == "STRING":
        return str(value)
    if input_type == "BOOLEAN":
        return bool(value)
    return value


def _range_or_combo(
    name: str, value: Any, input_type: Any, extra: dict[str, Any], info: list[Any]
) -> Reason | None:
    if "min" in extra and value < extra["min"]:
        return {
            "type": "value_smaller_than_min",
            "message": f"Value {value} smaller than min of {extra['min']}",
            "details": name,
            "extra_info": {"input_name": name, "input_config": info, "received_value": value},
        }
    if "max" in extra and value > extra["max"]:
        return {
            "type": "value_bigger_than_max",
            "message": f"Value {value} bigger than max of {extra['max']}",
            "details": name,
            "extra_info": {"input_name": name, "input_config": info, "received_value": value},
        }
    if isinstance(input_type, list) or input_type == "COMBO":
        options = extra.get("options", []) if input_type == "COMBO" else input_type
        if value not in options:
            config: list[Any] | None = info
            if len(options) > 20:
                listed = f"(list of length {len(options)})"
                config = None
            else:
                listed = str(options)
            return {
                "type": "value_not_in_list",
                "message": "Value not in list",
                "details": f"{name}: '{value}' not in {listed}",
                "extra_info": {"input_name": name, "input_config": config, "received_value": value},
            }
    return None


def file_exists(path: str) -> bool:
    return os.path.isfile(path)
