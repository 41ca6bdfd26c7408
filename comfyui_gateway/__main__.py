"""``python -m comfyui_gateway`` is the ``comfyui-gateway`` command."""

from comfyui_gateway.cli import main

main()
