"""Putting a job's media inputs on the backend it runs on, before ``POST /prompt``.

Each input is uploaded with ComfyUI's own ``POST /upload/image`` (masks too: a mask
field is a file LoadImageMask reads, and ``/upload/mask`` would instead merge it into
another picture's alpha) as ``type=input``, ``subfolder=gateway``, named
``<sha256>.<ext>``, ``overwrite`` off. Content-addressed names make that idempotent:
ComfyUI answers with the existing name when the same bytes are already there, so a
retry, a recovered job or another worker on the same backend never stores a second
copy. Each runner (one per backend) remembers what it has uploaded, so identical
bytes cross the network once per backend and process.

ComfyUI answers with the name it stored the file under; should that differ from the
planned ``gateway/<sha256>.<ext>`` (different bytes already sat there), the graph's
values are rewritten to the answered name before the prompt is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.media_input import InputFile, JobInput
from comfyui_gateway.media.resolve import COMFY_SUBFOLDER
from comfyui_gateway.media.store import InputStore, stored_name
from comfyui_gateway.storage.base import Storage
from worker.comfyui import ComfyUIClient

log = logging.getLogger("comfyui_gateway.worker.inputs")

JobMedia = tuple[JobInput, InputFile]


class InputDelivery:
    """Uploads inputs to one backend and fixes the graph; one per runner (backend)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        client: ComfyUIClient,
    ) -> None:
        self._sessions = sessions
        self._store = InputStore(storage)
        self._client = client
        self._on_backend: dict[str, str] = {}
        """Planned ComfyUI name → the name the backend answered (uploaded already)."""

    async def deliver(
        self, job_id: str, graph: dict[str, Any], rows: list[JobMedia] | None = None
    ) -> dict[str, Any]:
        """Upload what this backend lacks; return the graph with ComfyUI's names.

        ``rows`` (from ``inputs_of``) saves the query; without them a graph naming no
        ``gateway/...`` file has no media inputs (each input's planned ComfyUI name is
        what the rendered graph holds), so nothing is read or uploaded.
        """
        if rows is None:
            if not references_media(graph):
                return graph  # nothing of ours to upload: no query on the hot path
            async with self._sessions() as session:
                rows = await inputs_of(session, job_id)
        renames: dict[str, str] = {}
        for job_input, file in rows:
            actual = self._on_backend.get(job_input.comfy_name)
            if actual is None:
                actual = await self._upload(file)
                self._on_backend[job_input.comfy_name] = actual
            if actual != job_input.comfy_name:
                renames[job_input.comfy_name] = actual
        return substitute(graph, renames) if renames else graph

    def forget(self) -> None:
        """Drop what is known to be on the backend (it may have lost its input folder)."""
        self._on_backend.clear()

    @property
    def knows_any(self) -> bool:
        return bool(self._on_backend)

    async def _upload(self, file: InputFile) -> str:
        data = await self._store.read(file.sha256, file.extension)
        answer = await self._client.upload_image(
            data,
            stored_name(file.sha256, file.extension),
            subfolder=COMFY_SUBFOLDER,
            type="input",
            overwrite=False,
        )
        return f"{answer.subfolder}/{answer.name}" if answer.subfolder else answer.name


async def inputs_of(session: AsyncSession, job_id: str) -> list[JobMedia]:
    """The job's media inputs and their files, in the order they were given."""
    result = await session.execute(
        select(JobInput, InputFile)
        .join(InputFile, InputFile.sha256 == JobInput.sha256)
        .where(JobInput.job_id == job_id)
        .order_by(JobInput.id)
    )
    return [(row[0], row[1]) for row in result.all()]


def references_media(graph: dict[str, Any]) -> bool:
    """Whether a node input names a file in our ComfyUI subfolder (``gateway/...``)."""
    prefix = f"{COMFY_SUBFOLDER}/"
    for node in graph.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if isinstance(inputs, dict) and any(
            isinstance(value, str) and value.startswith(prefix) for value in inputs.values()
        ):
            return True
    return False


def substitute(graph: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """A copy of ``graph`` whose node input values equal to a planned name are renamed."""
    fixed: dict[str, Any] = {}
    for node_id, node in graph.items():
        if isinstance(node, dict) and isinstance(node.get("inputs"), dict):
            inputs = {
                key: renames.get(value, value) if isinstance(value, str) else value
                for key, value in node["inputs"].items()
            }
            node = {**node, "inputs": inputs}
        fixed[node_id] = node
    return fixed
