"""``python -m comfyui_emulator`` / ``comfyui-gateway emulator``: run the emulator alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from comfyui_emulator.config import EmulatorConfig
from comfyui_emulator.server import Emulator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="comfyui-emulator",
        description="An emulated ComfyUI (no GPU, no models): same API, real PNG outputs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--dir", type=Path, default=None, help="base folder for input/output/temp")
    parser.add_argument("--step-ms", type=float, default=None, help="time per sampler step")
    parser.add_argument("--startup-delay-ms", type=float, default=None)
    parser.add_argument("--preview-method", choices=("none", "latent2rgb"), default=None)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM."""
    emulator = Emulator(config, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await emulator.start()
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; ``argv`` excludes the program name."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s comfyui-emulator: %(message)s",
    )
    overrides: dict[str, Any] = {
        "argv": ("main.py", "--listen", args.host, "--port", str(args.port))
    }
    if args.dir is not None:
        overrides["base_dir"] = args.dir
    if args.step_ms is not None:
        overrides["step_ms"] = args.step_ms
    if args.startup_delay_ms is not None:
        overrides["startup_delay_ms"] = args.startup_delay_ms
    if args.preview_method is not None:
        overrides["preview_method"] = args.preview_method
    config = EmulatorConfig.from_env(**overrides)
    logging.getLogger("comfyui_emulator").info(
        "This is the ComfyUI emulator, not a real ComfyUI: pictures are synthetic, no GPU is used."
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port))
    return 0
