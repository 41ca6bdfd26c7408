"""Retention for media inputs: uploads past the retention period, then input files
that no job and no upload references any more.

Inputs are content-addressed (``_inputs/<sha256>.<ext>``, one ``input_files`` row per
content) and shared by every job and upload that used the same bytes, so a file can
only go once nothing refers to it: job deletion (``DELETE`` or retention) removes a
job's ``job_inputs`` rows by cascade, and this sweep removes what became unreferenced.

Each file goes by a conditional DELETE (no ``job_inputs``, no ``uploads`` row), then
its bytes. A submission that references the file concurrently either commits first
(the DELETE then finds a reference) or holds a foreign-key lock the DELETE waits on
and then fails against (skipped, tried next sweep). Only files older than the cutoff
are considered, so a file stored for a submission still in progress is never taken.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.media_input import InputFile, JobInput, Upload
from comfyui_gateway.db.translate import translate_db_errors
from comfyui_gateway.db.types import utcnow
from comfyui_gateway.errors import GatewayError
from comfyui_gateway.media.store import INPUTS_FOLDER, stored_name
from comfyui_gateway.storage.base import Storage, StorageError

log = logging.getLogger("comfyui_gateway.jobs.input_retention")

DEFAULT_BATCH = 200


def _unreferenced() -> ColumnElement[bool]:
    return and_(
        ~exists().where(JobInput.sha256 == InputFile.sha256),
        ~exists().where(Upload.sha256 == InputFile.sha256),
    )


class UnreferencedInputs:
    """The ``retention.InputJanitor`` for the content-addressed input store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        *,
        retention_days: int,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._retention = timedelta(days=retention_days)
        self._batch = batch

    async def sweep_unreferenced(self) -> int:
        """Drop expired uploads, then delete unreferenced old input files; files removed."""
        cutoff = utcnow() - self._retention
        async with self._sessions() as session, session.begin():
            with translate_db_errors():
                await session.execute(delete(Upload).where(Upload.created_at < cutoff))
        async with self._sessions() as session:
            candidates = (
                await session.execute(
                    select(InputFile.sha256, InputFile.extension)
                    .where(InputFile.created_at < cutoff, _unreferenced())
                    .limit(self._batch)
                )
            ).all()
        removed = 0
        for sha256, extension in candidates:
            if await self._remove(sha256, extension):
                removed += 1
        return removed

    async def _remove(self, sha256: str, extension: str) -> bool:
        try:
            async with self._sessions() as session, session.begin():
                with translate_db_errors():
                    result = await session.execute(
                        delete(InputFile).where(InputFile.sha256 == sha256, _unreferenced())
                    )
        except GatewayError as exc:  # referenced meanwhile: kept, looked at next sweep
            log.info("input %s kept: %s", sha256[:12], exc.message)
            return False
        if getattr(result, "rowcount", 0) != 1:
            return False
        try:
            await self._storage.delete(INPUTS_FOLDER, stored_name(sha256, extension))
        except StorageError as exc:
            log.warning("could not delete input file %s: %s", sha256[:12], exc)
        return True
