"""Which models a backend holds, as far as the gateway can know.

ComfyUI has no API listing loaded models, so the gateway learns them from the jobs it
sends: by default ComfyUI keeps the outputs of the last prompt only in its execution
cache, and a model nothing in that cache refers to is unloaded (``cleanup_models``),
so what stays loaded is what the last prompt loaded. ``keep_jobs`` widens that to the
last N jobs, for a ComfyUI run with ``--cache-lru N`` (``AFFINITY_RESIDENT_JOBS``).
The emulator follows the default (see ``comfyui_emulator/executor.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Residency:
    """The model sets of a backend's most recent jobs, newest first."""

    recent: tuple[tuple[str, ...], ...] = ()

    @property
    def models(self) -> frozenset[str]:
        return frozenset(name for models in self.recent for name in models)

    def after(self, models: tuple[str, ...], keep_jobs: int) -> Residency:
        """The residency once a job loading ``models`` was sent to the backend."""
        return Residency(((models, *self.recent))[: max(1, keep_jobs)])

    def to_json(self) -> str:
        return json.dumps([list(models) for models in self.recent], separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Residency:
        try:
            recent = json.loads(text) if text else []
            return cls(tuple(tuple(str(name) for name in models) for models in recent))
        except (ValueError, TypeError):
            return cls()
