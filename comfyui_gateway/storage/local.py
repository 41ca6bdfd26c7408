"""Outputs as files on a local (or mounted) disk: ``<root>/<job_id>/<stored_name>``.

Writes go to a temporary file in the job's folder, are flushed to disk, then renamed
over the final name, so a crash never leaves half a file under a name a client can
ask for. The SHA-256 and content type given at save time are kept beside the file in
``<job_id>/.meta/<stored_name>`` (JSON); names starting with a dot can never be output
names, so these never collide. A file whose record is missing or stale (a crash between
the two renames) is hashed again on ``stat``.

Confinement: names are allowlisted first (``names.py``); then every path is resolved
and must be exactly where the names say, so a symlink planted anywhere under the root
(the job folder, the file, ``.meta``) is refused; reads also open with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import stat as stat_mode
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

from comfyui_gateway.errors import OutputNotFound
from comfyui_gateway.storage.base import (
    READ_CHUNK_BYTES,
    WRITE_BATCH_BYTES,
    ByteStream,
    StagedObject,
    StorageError,
    StoredObject,
    UnsafeStoragePath,
)
from comfyui_gateway.storage.content_types import content_type_for, validate_content_type
from comfyui_gateway.storage.names import validate_job_id, validate_stored_name
from comfyui_gateway.storage.streams import ChunkStream, Digest, spool

logger = logging.getLogger(__name__)

META_DIR = ".meta"
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW
# What opening an output can meet that means "no such output" rather than "disk trouble":
# nothing there, a symlink (refused by O_NOFOLLOW), a folder.
_NOT_AN_OUTPUT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR})


def _confined(path: Path) -> Path:
    """``path`` itself if resolving it changes nothing (no symlink on the way), else refuse."""
    if Path(os.path.realpath(path)) != path:
        raise UnsafeStoragePath(f"{path} resolves elsewhere; refusing to follow it")
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (it lives in the folder's entry table)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_file(path: Path, chunk_bytes: int) -> Digest:
    hasher = hashlib.sha256()
    size = 0
    with open(os.open(path, os.O_RDONLY | _OPEN_FLAGS), "rb") as file:
        while block := file.read(chunk_bytes):
            hasher.update(block)
            size += len(block)
    return Digest(size=size, sha256=hasher.hexdigest())


def _open_regular_file(path: Path) -> IO[bytes]:
    """Open ``path`` for reading without following a symlink; refuse anything not a file."""
    fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
    return open(fd, "rb")


async def _chained(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``first`` (already read; None: the source was empty), then the rest."""
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk


def _discard(sink: IO[bytes], temp: Path) -> None:
    sink.close()
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()


async def _abandon(opening: asyncio.Future[tuple[Path, Path, IO[bytes], Path]]) -> None:
    """Undo a ``_begin`` whose bytes never came: close and remove its temporary file."""
    try:
        _, _, sink, temp = await opening
    except Exception:
        return
    sink.close()
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()


class LocalStorage:
    """The ``Storage`` provider for a folder; the default of ``make dev``.

    Usage::

        storage = LocalStorage(Path("./data/outputs"))
        await storage.check()   # creates the folder, proves it is writable
    """

    describe = "local"

    def __init__(
        self,
        root: Path | str,
        *,
        read_chunk_bytes: int = READ_CHUNK_BYTES,
        write_batch_bytes: int = WRITE_BATCH_BYTES,
    ) -> None:
        # Absolute once, so a later chdir cannot move the store.
        self._root = Path(root).absolute()
        self._read_chunk_bytes = read_chunk_bytes
        self._write_batch_bytes = write_batch_bytes

    @property
    def root(self) -> Path:
        return self._root

    # -- paths ---------------------------------------------------------------------

    def _real_root(self) -> Path:
        # The root itself may be a symlink (a mounted volume): resolve it, trust it.
        return Path(os.path.realpath(self._root))

    def _job_dir(self, job_id: str) -> Path:
        return _confined(self._real_root() / validate_job_id(job_id))

    def _paths(self, job_id: str, stored_name: str) -> tuple[Path, Path]:
        """(output file, its metadata record), both confined to the job folder."""
        validate_stored_name(stored_name)
        job_dir = self._job_dir(job_id)
        meta_dir = _confined(job_dir / META_DIR)
        return _confined(job_dir / stored_name), _confined(meta_dir / stored_name)

    # -- Storage -------------------------------------------------------------------

    async def save(
        self,
        job_id: str,
        stored_name: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
    ) -> StoredObject:
        staged = await self.stage(job_id, stored_name, chunks, content_type)
        return await staged.durable()

    async def stage(
        self,
        job_id: str,
        stored_name: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
    ) -> StagedObject:
        validate_content_type(content_type)
        validate_job_id(job_id)  # names first: a bad name never touches the disk
        validate_stored_name(stored_name)
        # The folder and temporary file are made while the first bytes are on their way
        # (for a ComfyUI output: while GET /view is answered), not before asking.
        opening = asyncio.ensure_future(asyncio.to_thread(self._begin, job_id, stored_name))
        try:
            first = await anext(chunks, None)
        except BaseException:
            await _abandon(opening)
            raise
        try:
            path, meta, sink, temp = await opening
        except OSError as exc:
            raise StorageError(f"cannot write to {self._root}: {exc.strerror}") from exc
        try:
            # The source's own errors (even OSErrors of its socket) pass through untouched.
            digest = await spool(_chained(first, chunks), sink, batch_bytes=self._write_batch_bytes)
        except BaseException:
            _discard(sink, temp)
            raise
        record = {"size": digest.size, "sha256": digest.sha256, "contentType": content_type}
        finishing = asyncio.ensure_future(self._finish(sink, temp, path, meta, record))
        stored = StoredObject(str(path), digest.size, digest.sha256, content_type)
        return StagedObject(stored, finishing)

    async def _finish(
        self, sink: IO[bytes], temp: Path, path: Path, meta: Path, record: dict[str, object]
    ) -> None:
        try:
            await asyncio.to_thread(self._commit, sink, temp, path, meta, record)
        except BaseException as exc:
            _discard(sink, temp)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {path}: {exc.strerror}") from exc
            raise

    def _begin(self, job_id: str, stored_name: str) -> tuple[Path, Path, IO[bytes], Path]:
        """Create the job folder and an exclusive temporary file beside the final name."""
        self._root.mkdir(parents=True, exist_ok=True)
        (self._real_root() / job_id).mkdir(exist_ok=True)
        path, meta = self._paths(job_id, stored_name)  # again, now the folder exists
        meta.parent.mkdir(exist_ok=True)
        _confined(meta.parent)
        temp = path.parent / f".part-{uuid.uuid4().hex}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644)
        return path, meta, open(fd, "wb"), temp

    @staticmethod
    def _commit(
        sink: IO[bytes], temp: Path, path: Path, meta: Path, record: dict[str, object]
    ) -> None:
        """Make the data durable, then publish it; the record follows the data.

        The old record goes first, then the data is renamed, then the new record: at
        no moment does a record describe bytes it was not written for (a crash in
        between leaves data without a record, which ``stat`` hashes again).

        Only the data and its name are fsynced (two syncs per output): the record is a
        cache of what the database row holds, and one lost or torn by a crash fails
        ``stat``'s size and JSON checks, which then hash the file again.
        """
        sink.flush()
        os.fsync(sink.fileno())
        sink.close()
        meta_temp = meta.parent / f".part-{uuid.uuid4().hex}"
        try:
            fd = os.open(meta_temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644)
            with open(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
            with contextlib.suppress(FileNotFoundError):
                meta.unlink()
            os.replace(temp, path)
            os.replace(meta_temp, meta)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                meta_temp.unlink()
            raise
        _fsync_dir(path.parent)

    async def open(self, job_id: str, stored_name: str) -> ByteStream:
        path = self._real_root() / validate_job_id(job_id) / validate_stored_name(stored_name)
        try:
            file, first = await asyncio.to_thread(self._open_and_read, job_id, stored_name)
        except UnsafeStoragePath as exc:
            logger.warning("refused to read through a symlink: %s", exc.message)
            raise OutputNotFound() from exc
        except OSError as exc:
            if exc.errno in _NOT_AN_OUTPUT:
                raise OutputNotFound() from exc
            raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
        return ChunkStream(
            self._guarded_read(file),
            file.close,
            chunk_bytes=self._read_chunk_bytes,
            first=first,
            short_read_ends=True,  # a regular file (_open_regular_file refuses the rest)
        )

    def _open_and_read(self, job_id: str, stored_name: str) -> tuple[IO[bytes], bytes]:
        """The open file and its first chunk, in one thread hop."""
        path, _ = self._paths(job_id, stored_name)
        file = _open_regular_file(path)
        try:
            return file, self._guarded_read(file)(self._read_chunk_bytes)
        except BaseException:
            file.close()
            raise

    @staticmethod
    def _guarded_read(file: IO[bytes]) -> Callable[[int], bytes]:
        def read(size: int) -> bytes:
            try:
                return file.read(size)
            except OSError as exc:
                raise StorageError(f"cannot read {file.name}: {exc.strerror}") from exc

        return read

    async def stat(self, job_id: str, stored_name: str) -> StoredObject | None:
        validate_job_id(job_id)
        validate_stored_name(stored_name)
        try:
            return await asyncio.to_thread(self._stat, job_id, stored_name)
        except UnsafeStoragePath as exc:
            logger.warning("refused to stat through a symlink: %s", exc.message)
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {job_id}/{stored_name}: {exc.strerror}") from exc

    def _stat(self, job_id: str, stored_name: str) -> StoredObject | None:
        path, meta = self._paths(job_id, stored_name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        if not stat_mode.S_ISREG(info.st_mode):
            return None
        try:
            record = json.loads(meta.read_text())
            if record["size"] == info.st_size:
                return StoredObject(
                    str(path), info.st_size, str(record["sha256"]), str(record["contentType"])
                )
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no record, or a stale one: the file itself is the truth
        digest = _hash_file(path, self._read_chunk_bytes)
        return StoredObject(str(path), digest.size, digest.sha256, content_type_for(path.name))

    async def delete_job(self, job_id: str) -> None:
        job_dir = self._real_root() / validate_job_id(job_id)
        try:
            await asyncio.to_thread(self._delete, job_dir)
        except OSError as exc:
            raise StorageError(f"cannot delete {job_dir}: {exc.strerror}") from exc

    @staticmethod
    def _delete(job_dir: Path) -> None:
        if not os.path.lexists(job_dir):
            return
        _confined(job_dir)  # never delete through a symlink
        shutil.rmtree(job_dir)

    async def delete(self, job_id: str, stored_name: str) -> None:
        path, meta = self._paths(job_id, stored_name)
        try:
            await asyncio.to_thread(self._delete_one, path, meta)
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror}") from exc

    @staticmethod
    def _delete_one(path: Path, meta: Path) -> None:
        for item in (meta, path):
            with contextlib.suppress(FileNotFoundError):
                item.unlink()
        # The folder goes once nothing but empty bookkeeping is left in it.
        for folder in (meta.parent, path.parent):
            with contextlib.suppress(FileNotFoundError, OSError):
                folder.rmdir()

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self._check)
        except OSError as exc:
            raise StorageError(
                f"STORAGE_LOCAL_PATH {self._root} is not a writable folder: {exc.strerror}"
            ) from exc

    def _check(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        probe = self._real_root() / f".probe-{uuid.uuid4().hex}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            probe.unlink()

    async def close(self) -> None:
        """Nothing to release: files are opened and closed per call."""
