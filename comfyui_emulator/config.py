"""The emulator's settings: one frozen object, read from the environment once.

Every knob has an environment variable (for ``make dev`` and subprocess tests) and a
constructor argument (for in-process tests), so a test can build an emulator with a short
step time or a failure plan without touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from comfyui_emulator.failures import FailurePlan

PreviewMethod = Literal["none", "latent2rgb"]
CrashMode = Literal["exit", "abort"]

DEFAULT_CHECKPOINTS = ("sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors")
DEFAULT_LORAS = ("pixel_art_xl.safetensors", "add_detail.safetensors")
DEFAULT_UPSCALE_MODELS = ("RealESRGAN_x4plus.pth", "4x-UltraSharp.pth", "RealESRGAN_x2plus.pth")
DEFAULT_VAES = ("sdxl_vae.safetensors",)


def _names(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None:
        return default
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class EmulatorConfig:
    """How one emulator instance behaves.

    Usage: ``EmulatorConfig(step_ms=5)`` or ``EmulatorConfig.from_env()``.
    """

    #: Milliseconds each sampler step takes (a real GPU takes tens of ms, a CPU ~2 s).
    step_ms: float = 20.0
    #: Milliseconds a node other than a sampler takes.
    node_ms: float = 0.0
    #: Milliseconds a checkpoint load takes when it is not cached.
    load_ms: float = 0.0
    #: Milliseconds during which the port refuses connections, as a starting ComfyUI does.
    startup_delay_ms: float = 0.0
    #: Base folder for input/, output/ and temp/; None means a fresh temporary folder.
    base_dir: Path | None = None
    #: Model files listed per folder, as a real server lists the files it finds.
    checkpoints: tuple[str, ...] = DEFAULT_CHECKPOINTS
    loras: tuple[str, ...] = DEFAULT_LORAS
    upscale_models: tuple[str, ...] = DEFAULT_UPSCALE_MODELS
    vaes: tuple[str, ...] = DEFAULT_VAES
    #: Latent previews per sampler step, like ``--preview-method latent2rgb``.
    preview_method: PreviewMethod = "none"
    #: A failure applied to every prompt (a prompt's own ``extra_data.emulator`` wins).
    fail: FailurePlan | None = None
    #: ``exit`` kills the process (``os._exit``); ``abort`` drops every socket and stops
    #: listening, which looks the same from outside but keeps a test process alive.
    crash_mode: CrashMode = "exit"
    #: Extra argv shown in /system_stats, for realism only.
    argv: tuple[str, ...] = field(default=("main.py", "--listen", "127.0.0.1"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> EmulatorConfig:
        """Build a config from ``COMFYUI_EMULATOR_*`` variables, then apply ``overrides``."""
        env = os.environ if env is None else env
        base_dir = env.get("COMFYUI_EMULATOR_DIR")
        preview = env.get("COMFYUI_EMULATOR_PREVIEW_METHOD", "none")
        if preview not in ("none", "latent2rgb"):
            raise ValueError(
                f"COMFYUI_EMULATOR_PREVIEW_METHOD must be none or latent2rgb, got {preview!r}"
            )
        config = cls(
            step_ms=_number(env, "COMFYUI_EMULATOR_STEP_MS", cls.step_ms),
            node_ms=_number(env, "COMFYUI_EMULATOR_NODE_MS", cls.node_ms),
            load_ms=_number(env, "COMFYUI_EMULATOR_LOAD_MS", cls.load_ms),
            startup_delay_ms=_number(env, "COMFYUI_EMULATOR_STARTUP_DELAY_MS", 0.0),
            base_dir=Path(base_dir) if base_dir else None,
            checkpoints=_names(env.get("COMFYUI_EMULATOR_CHECKPOINTS"), DEFAULT_CHECKPOINTS),
            loras=_names(env.get("COMFYUI_EMULATOR_LORAS"), DEFAULT_LORAS),
            upscale_models=_names(
                env.get("COMFYUI_EMULATOR_UPSCALE_MODELS"), DEFAULT_UPSCALE_MODELS
            ),
            vaes=_names(env.get("COMFYUI_EMULATOR_VAES"), DEFAULT_VAES),
            preview_method=cast(PreviewMethod, preview),
            fail=FailurePlan.parse_env(env.get("COMFYUI_EMULATOR_FAIL")),
        )
        return replace(config, **overrides)

    @property
    def startup_delay_s(self) -> float:
        return self.startup_delay_ms / 1000.0
