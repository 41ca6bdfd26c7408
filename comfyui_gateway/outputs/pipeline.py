"""The one path output bytes take through conversion and metadata stripping.

The worker runs it once while storing (``OutputPolicy`` from the job and the
settings), so the stored file, its sha256, size and type are what every delivery
serves. The server runs it for ``?convert=`` downloads. Either way:

- nothing to do: the original stream, untouched;
- only stripping a PNG: a streaming chunk filter (memory: one chunk header);
- anything else: the bytes are spooled to a temporary file (never memory), inspected,
  and converted in a thread into a second temporary file that is streamed out; only
  the decoded image itself is ever in memory. Non-images and animations pass through
  with their real type.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

from comfyui_gateway.outputs.convert import convert_image, still_image_format
from comfyui_gateway.outputs.formats import PILLOW_FORMATS, OutputFormat
from comfyui_gateway.outputs.metadata import PngTextFilter, is_strippable, strip_metadata
from comfyui_gateway.storage.streams import ChunkStream, spool

log = logging.getLogger("comfyui_gateway.outputs")


@dataclass(frozen=True, slots=True)
class OutputPolicy:
    """What to do to an output: convert it to ``target`` (if set), drop its metadata."""

    target: OutputFormat | None = None
    strip: bool = False

    @property
    def is_noop(self) -> bool:
        return self.target is None and not self.strip


def job_policy(output_format: dict[str, Any] | None, *, strip: bool) -> OutputPolicy:
    """The policy for a job's stored outputs (its ``output_format`` column, the setting)."""
    return OutputPolicy(target=OutputFormat.from_record(output_format), strip=strip)


@dataclass(slots=True)
class Processed:
    """The bytes to store or serve, and their (possibly new) content type."""

    chunks: AsyncIterator[bytes]
    content_type: str
    converted: bool = False
    """True when ``content_type`` is the target's (the file name's extension follows)."""


def _essence(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


async def _filtered_png(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    png = PngTextFilter()
    async for chunk in chunks:
        kept = png.feed(chunk)
        if kept:
            yield kept
    rest = png.close()
    if rest:
        yield rest


def _file_stream(file: IO[bytes]) -> ChunkStream:
    file.seek(0)
    return ChunkStream(file.read, file.close)


def _transform(
    source: IO[bytes], content_type: str, policy: OutputPolicy
) -> tuple[IO[bytes], str, bool]:
    """Blocking: (file to serve, its type, converted?); ``source`` is closed if replaced."""
    from PIL import Image  # already loaded by still_image_format

    found = still_image_format(source)
    target = policy.target
    if target is not None and found is not None and found != PILLOW_FORMATS[target.format]:
        sink = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller's stream)
        try:
            convert_image(source, sink, target, keep_metadata=not policy.strip)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            # A header Pillow accepts over data it cannot decode (a truncated file):
            # the output is kept as ComfyUI made it rather than lost.
            sink.close()
            log.warning("output not converted to %s: %s", target.format, exc)
        except BaseException:
            sink.close()
            raise
        else:
            source.close()
            return sink, target.content_type, True
    if policy.strip and is_strippable(content_type):
        source.seek(0)
        data = strip_metadata(source.read(), content_type)
        source.close()
        sink = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller's stream)
        sink.write(data)
        return sink, content_type, False
    return source, content_type, False


async def process(
    chunks: AsyncIterator[bytes], content_type: str, policy: OutputPolicy
) -> Processed:
    """Apply ``policy`` to one output stream (see the module docstring)."""
    if policy.is_noop:
        return Processed(chunks, content_type)
    if policy.target is None and _essence(content_type) == "image/png":
        return Processed(_filtered_png(chunks), content_type)
    if policy.target is None and not is_strippable(content_type):
        return Processed(chunks, content_type)
    source = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the stream or below)
    try:
        await spool(chunks, source)
        result, new_type, converted = await asyncio.to_thread(
            _transform, source, content_type, policy
        )
    except BaseException:
        source.close()
        raise
    return Processed(_file_stream(result), new_type, converted)
