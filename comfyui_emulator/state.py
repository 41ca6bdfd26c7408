"""The shared state of one emulator instance, handed to every route handler."""

from __future__ import annotations

from dataclasses import dataclass, field

from comfyui_emulator.catalogue import Catalogue
from comfyui_emulator.config import EmulatorConfig
from comfyui_emulator.executor import Executor
from comfyui_emulator.hub import Hub
from comfyui_emulator.prompt_queue import PromptQueue
from comfyui_emulator.storage import Storage
from comfyui_emulator.validation import PromptValidator


@dataclass
class State:
    """One server's pieces; ``number`` is the global counter of ``POST /prompt``."""

    config: EmulatorConfig
    storage: Storage
    catalogue: Catalogue
    queue: PromptQueue
    hub: Hub
    executor: Executor
    validator: PromptValidator
    number: int = 0
    started: float = field(default=0.0)

    def queue_info(self) -> dict[str, dict[str, int]]:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}
