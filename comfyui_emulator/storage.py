"""The emulator's folders (input/, output/, temp/) and ComfyUI's file-naming rules.

Paths follow ``folder_paths`` of ComfyUI: annotated names (``"a.png [input]"``), the
``{prefix}_{counter:05}_.png`` counter found by scanning the folder, upload names that
become ``"x (1).png"`` when different bytes already use the name.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path

FOLDER_TYPES = ("input", "output", "temp")


class Storage:
    """The three folders a ComfyUI serves from, under one base folder.

    Usage: ``storage = Storage(None)`` (a fresh temporary folder), ``storage.cleanup()``.
    """

    def __init__(self, base_dir: Path | None) -> None:
        self._owned = base_dir is None
        base = Path(tempfile.mkdtemp(prefix="comfyui-emulator-")) if base_dir is None else base_dir
        self.base = base.resolve()
        for kind in FOLDER_TYPES:
            (self.base / kind).mkdir(parents=True, exist_ok=True)
        # A real ComfyUI empties temp/ when it starts.
        shutil.rmtree(self.base / "temp", ignore_errors=True)
        (self.base / "temp").mkdir()

    def cleanup(self) -> None:
        """Remove the folder if the emulator created it."""
        if self._owned:
            shutil.rmtree(self.base, ignore_errors=True)

    def directory(self, kind: str | None) -> str | None:
        """``folder_paths.get_directory_by_type``: None for an unknown type."""
        if kind in FOLDER_TYPES:
            return str(self.base / str(kind))
        return None

    @property
    def input_dir(self) -> str:
        return str(self.base / "input")

    @property
    def output_dir(self) -> str:
        return str(self.base / "output")

    @property
    def temp_dir(self) -> str:
        return str(self.base / "temp")

    def annotated(self, name: str) -> tuple[str, str | None]:
        """Split ``"a.png [output]"`` into the name and the folder it names."""
        for kind in FOLDER_TYPES:
            suffix = f" [{kind}]"
            if name.endswith(suffix):
                return name[: -len(suffix)], self.directory(kind)
        return name, None

    def annotated_path(self, name: str) -> str:
        """The file an annotated name points at; plain names live in input/."""
        plain, folder = self.annotated(name)
        return os.path.join(folder or self.input_dir, plain)

    def input_images(self) -> list[str]:
        """What LoadImage's combo lists: the files at the top of input/ whose extension
        maps to an ``image/*`` type (``folder_paths.filter_files_content_types``)."""
        return [name for name in self.input_files() if _is_image_name(name)]

    def input_files(self) -> list[str]:
        """What LoadImageMask's combo lists: every file at the top of input/."""
        return sorted(entry.name for entry in os.scandir(self.input_dir) if entry.is_file())

    def save_path(self, prefix: str) -> tuple[str, str, int, str]:
        """``folder_paths.get_save_image_path``: (folder, base name, next counter, subfolder).

        Raises ValueError when the prefix points outside output/.
        """
        output_dir = self.output_dir
        normalized = os.path.normpath(prefix)
        subfolder = os.path.dirname(normalized)
        filename = os.path.basename(normalized)
        full = os.path.join(output_dir, subfolder)
        if os.path.commonpath((output_dir, os.path.abspath(full))) != output_dir:
            raise ValueError(
                "**** ERROR: Saving image outside the output folder is not allowed."
                f"\n full_output_folder: {os.path.abspath(full)}"
                f"\n         output_dir: {output_dir}"
            )
        os.makedirs(full, exist_ok=True)
        counters = [0]
        for existing in os.listdir(full):
            head = existing[: len(filename) + 1]
            if os.path.normcase(head[:-1]) != os.path.normcase(filename) or head[-1:] != "_":
                continue
            try:
                counters.append(int(existing[len(filename) + 1 :].split("_")[0]))
            except ValueError:
                continue
        return full, filename, max(counters) + 1, subfolder

    def upload_target(
        self, upload_dir: str, subfolder: str, filename: str, data: bytes, overwrite: bool
    ) -> tuple[str, str, bool] | None:
        """Where an upload goes: (path, final name, duplicate?); None if it escapes.

        Mirrors ComfyUI's ``image_upload``: same bytes under the same name is a duplicate
        (the name is reused, nothing written), different bytes get ``"name (1).ext"``,
        then ``"name (2).ext"``... stopping at the first name that holds the same bytes.
        """
        folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((upload_dir, path)) != upload_dir:
            return None
        os.makedirs(folder, exist_ok=True)
        if overwrite:
            return path, filename, False
        stem, ext = os.path.splitext(filename)
        digest = hashlib.sha256(data).hexdigest()
        counter = 1
        while os.path.exists(path):
            with open(path, "rb") as existing:
                if hashlib.sha256(existing.read()).hexdigest() == digest:
                    return path, filename, True
            filename = f"{stem} ({counter}){ext}"
            path = os.path.join(folder, filename)
            counter += 1
        return path, filename, False


def _is_image_name(name: str) -> bool:
    guessed = mimetypes.guess_type(name, strict=False)[0]
    return guessed is not None and guessed.startswith("image/")


def content_type_for(filename: str) -> str:
    """The Content-Type /view answers with; script-like types are forced to download."""
    guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if guessed in {
        "text/html",
        "text/html-sandboxed",
        "application/xhtml+xml",
        "text/javascript",
        "text/css",
    }:
        return "application/octet-stream"
    return guessed
