"""An emulated ComfyUI 0.3.64: same HTTP and WebSocket protocol, real PNG outputs, no GPU.

Usage::

    from comfyui_emulator import Emulator, EmulatorConfig

    async with Emulator(EmulatorConfig(step_ms=5)) as emulator:
        ...  # talk to emulator.base_url like to a real ComfyUI
"""

from comfyui_emulator.config import EmulatorConfig
from comfyui_emulator.failures import FailureKind, FailurePlan
from comfyui_emulator.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "FailureKind", "FailurePlan"]
