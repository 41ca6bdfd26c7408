"""What only the local provider has: symlinks, atomic renames, the record beside the file."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from comfyui_gateway.errors import OutputNotFound
from comfyui_gateway.storage import LocalStorage, StorageError, UnsafeStoragePath
from comfyui_gateway.storage.local import META_DIR
from tests.unit.test_storage_contract import JOB, MiB, lazily, local_files


def names_in(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def read(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture
async def storage(tmp_path: Path) -> LocalStorage:
    store = LocalStorage(tmp_path / "outputs")
    await store.check()
    return store


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the store holding a secret the store must never touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.png").write_bytes(b"secret")
    return folder


async def test_layout_is_root_job_name(storage: LocalStorage) -> None:
    saved = await storage.save(JOB, "a.png", lazily(iter([b"abc"])), "image/png")
    path = storage.root / JOB / "a.png"
    assert saved.storage_path == str(path)
    assert path.read_bytes() == b"abc"
    assert storage.describe == "local"


async def test_relative_root_is_made_absolute_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalStorage("data/outputs")
    monkeypatch.chdir("/")
    saved = await store.save(JOB, "a.png", lazily(iter([b"x"])), "image/png")
    assert saved.storage_path == str(tmp_path / "data" / "outputs" / JOB / "a.png")


async def test_symlinked_file_escaping_the_job_folder_is_refused(
    storage: LocalStorage, outside: Path
) -> None:
    job_dir = storage.root / JOB
    job_dir.mkdir()
    (job_dir / "evil.png").symlink_to(outside / "secret.png")

    with pytest.raises(OutputNotFound):
        await storage.open(JOB, "evil.png")
    assert await storage.stat(JOB, "evil.png") is None
    with pytest.raises(UnsafeStoragePath):
        await storage.save(JOB, "evil.png", lazily(iter([b"overwrite"])), "image/png")
    assert (outside / "secret.png").read_bytes() == b"secret"


async def test_symlinked_job_folder_is_refused(storage: LocalStorage, outside: Path) -> None:
    (storage.root / JOB).symlink_to(outside, target_is_directory=True)

    with pytest.raises(OutputNotFound):
        await storage.open(JOB, "secret.png")
    assert await storage.stat(JOB, "secret.png") is None
    with pytest.raises(UnsafeStoragePath):
        await storage.save(JOB, "new.png", lazily(iter([b"x"])), "image/png")
    with pytest.raises(UnsafeStoragePath):
        await storage.delete_job(JOB)
    assert names_in(outside) == ["secret.png"]


async def test_symlinked_record_folder_is_refused(storage: LocalStorage, outside: Path) -> None:
    (storage.root / JOB).mkdir()
    (storage.root / JOB / META_DIR).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeStoragePath):
        await storage.save(JOB, "a.png", lazily(iter([b"x"])), "image/png")
    assert names_in(outside) == ["secret.png"]


async def test_a_symlinked_root_is_trusted(tmp_path: Path) -> None:
    """The root may be a mounted volume reached through a link; only below it is policed."""
    real = tmp_path / "volume"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    store = LocalStorage(tmp_path / "link")
    await store.check()
    saved = await store.save(JOB, "a.png", lazily(iter([b"x"])), "image/png")
    assert (real / JOB / "a.png").read_bytes() == b"x"
    assert read(Path(saved.storage_path)) == b"x"


async def test_a_folder_under_an_output_name_is_not_an_output(storage: LocalStorage) -> None:
    (storage.root / JOB / "folder.png").mkdir(parents=True)
    with pytest.raises(OutputNotFound):
        await storage.open(JOB, "folder.png")
    assert await storage.stat(JOB, "folder.png") is None


async def test_half_written_file_never_appears_under_the_final_name(
    storage: LocalStorage,
) -> None:
    seen: list[list[str]] = []

    async def watched() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"z" * MiB
            await asyncio.sleep(0)
            seen.append(sorted(os.listdir(storage.root / JOB)))

    saved = await storage.save(JOB, "a.png", watched(), "image/png")
    assert saved.size == 4 * MiB
    assert all("a.png" not in listing for listing in seen)
    assert any(name.startswith(".part-") for listing in seen for name in listing)
    assert local_files(storage.root, JOB) == [f"{JOB}/{META_DIR}/a.png", f"{JOB}/a.png"]


async def test_stat_hashes_a_file_without_record(storage: LocalStorage) -> None:
    await storage.save(JOB, "a.webp", lazily(iter([b"data"])), "image/webp")
    (storage.root / JOB / META_DIR / "a.webp").unlink()
    stat = await storage.stat(JOB, "a.webp")
    assert stat is not None
    assert (stat.size, stat.sha256) == (4, hashlib.sha256(b"data").hexdigest())
    assert stat.content_type == "image/webp"  # from the name, the record being gone


async def test_stat_distrusts_a_stale_record(storage: LocalStorage) -> None:
    await storage.save(JOB, "a.png", lazily(iter([b"data"])), "image/png")
    (storage.root / JOB / "a.png").write_bytes(b"changed behind our back")
    stat = await storage.stat(JOB, "a.png")
    assert stat is not None
    assert stat.sha256 == hashlib.sha256(b"changed behind our back").hexdigest()


async def test_record_is_json_beside_the_file(storage: LocalStorage) -> None:
    saved = await storage.save(JOB, "a.png", lazily(iter([b"data"])), "image/gif")
    record = json.loads((storage.root / JOB / META_DIR / "a.png").read_text())
    assert record == {"size": 4, "sha256": saved.sha256, "contentType": "image/gif"}


async def test_check_creates_the_root(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "a" / "b" / "outputs")
    await store.check()
    assert (tmp_path / "a" / "b" / "outputs").is_dir()
    assert list((tmp_path / "a" / "b" / "outputs").iterdir()) == []  # the probe is gone


async def test_check_fails_when_the_root_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = LocalStorage(tmp_path / "file")
    with pytest.raises(StorageError, match="STORAGE_LOCAL_PATH"):
        await store.check()
    with pytest.raises(StorageError):
        await store.save(JOB, "a.png", lazily(iter([b"x"])), "image/png")
