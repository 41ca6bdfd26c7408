"""Pictures, bad media and a local HTTP file server for the media-input tests."""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from tests.ports import free_port


def noise_png(width: int, height: int, seed: int = 1, mode: str = "RGB") -> bytes:
    """A PNG of deterministic noise (every pixel differs from its neighbours)."""
    channels = len(mode)
    pixels = bytes((seed * 7919 + i * 104729) % 251 for i in range(width * height * channels))
    picture = Image.frombytes(mode, (width, height), pixels)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def inverted(png: bytes) -> bytes:
    """The RGB bytes ImageInvert should produce for ``png``."""
    with Image.open(io.BytesIO(png)) as picture:
        return bytes(255 - value for value in picture.convert("RGB").tobytes())


def rgb_bytes(png: bytes) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size, picture.convert("RGB").tobytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def truncated_png() -> bytes:
    data = noise_png(64, 64, seed=3)
    return data[: len(data) // 2]


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A real 1x1 PNG whose header claims ``width`` x ``height`` (CRC fixed)."""
    data = bytearray(noise_png(1, 1))
    ihdr = 8 + 4 + 4  # signature, chunk length, chunk type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


@dataclass
class FileServer:
    """Serves ``files`` (path → bytes) on 127.0.0.1; ``redirects`` (path → location)."""

    port: int
    files: dict[str, bytes]
    redirects: dict[str, str]
    hits: list[str]

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"


@contextmanager
def file_server(
    files: Mapping[str, bytes], redirects: Mapping[str, str] | None = None
) -> Iterator[FileServer]:
    server_state = FileServer(free_port(), dict(files), dict(redirects or {}), [])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            server_state.hits.append(path)
            if path in server_state.redirects:
                self.send_response(302)
                self.send_header("Location", server_state.redirects[path])
                self.end_headers()
                return
            body = server_state.files.get(path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The gateway stops reading at MAX_INPUT_BYTES.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", server_state.port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
