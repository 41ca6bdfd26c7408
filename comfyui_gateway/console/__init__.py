"""The web console's files, shipped inside the package (``assets/``), found by name.

``ConsoleAssets`` serves only files that exist under ``assets/`` when it is built: a
requested path is matched against that list, never joined onto the file system, so
``..`` or an absolute path cannot reach anything else. The console is plain HTML,
CSS and JavaScript modules: nothing to build, nothing fetched at run time.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from comfyui_gateway.errors import NotFound

INDEX = "index.html"
ASSET_NAME = re.compile(r"[A-Za-z0-9._/-]*")
"""Every name a console file can have (the OpenAPI document states it); others are 404."""
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Asset:
    path: str
    content_type: str
    data: bytes


class ConsoleAssets:
    """The console's files by path (``app.js``, ``views/job.js``); see the module docstring.

    Usage::

        asset = ConsoleAssets().get("")  # index.html
    """

    def __init__(self, root: Traversable | None = None) -> None:
        self._files = dict(_walk(root or resources.files(__package__) / "assets", ""))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted(self._files))

    def get(self, path: str) -> Asset:
        """The file at ``path`` ("" or a folder: its index.html); NotFound otherwise."""
        if not ASSET_NAME.fullmatch(path):
            raise NotFound("No such console file")
        wanted = path.strip("/")
        if wanted == "" or wanted + "/" + INDEX in self._files:
            wanted = f"{wanted}/{INDEX}".lstrip("/")
        source = self._files.get(wanted)
        if source is None:
            raise NotFound(f"No console file {path!r}")
        return Asset(wanted, content_type_of(wanted), source.read_bytes())


def content_type_of(path: str) -> str:
    suffix = path[path.rfind(".") :] if "." in path else ""
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.extend(_walk(entry, f"{name}/"))
        elif entry.is_file() and not entry.name.startswith("."):
            found.append((name, entry))
    return found
