"""``python -m comfyui_emulator --host 127.0.0.1 --port 8188``."""

import sys

from comfyui_emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
