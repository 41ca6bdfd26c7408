"""The command line: ``comfyui-gateway`` (see ``main``)."""

from comfyui_gateway.cli.main import main

__all__ = ["main"]
