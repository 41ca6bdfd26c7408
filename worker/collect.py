"""Collecting a finished prompt's outputs: stream each file into storage, then record
the job ``succeeded`` with them and its cache entry in one conditional transaction.

Shared by the runner (its own prompt) and recovery (a prompt a dead worker left
behind), so a recovered job ends exactly as a normally finished one does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.jobs import transitions
from comfyui_gateway.outputs.pipeline import OutputPolicy, process
from comfyui_gateway.storage.base import StagedObject, Storage, StorageError
from comfyui_gateway.storage.names import new_stored_name
from comfyui_gateway.tracing import child_span
from worker.comfyui import ComfyUIClient, OutputRef

log = logging.getLogger("comfyui_gateway.worker.collect")

PARALLEL_DOWNLOADS = 4
"""Outputs of one job fetched and written at the same time (each holds one batch)."""

Stored = Callable[[str], Awaitable[None]]
"""Called with ComfyUI's file name after each file is stored (for progress events)."""


def _converted_name(filename: str, extension: str) -> str:
    """ComfyUI's name with the converted file's extension (``a_00001_.png`` → ``.webp``)."""
    stem, dot, _ = filename.rpartition(".")
    return f"{stem if dot and stem else filename}.{extension}"


async def stage_output(
    client: ComfyUIClient,
    storage: Storage,
    job_id: str,
    ref: OutputRef,
    policy: OutputPolicy | None = None,
) -> tuple[JobOutput, StagedObject]:
    """Stream one ComfyUI output from ``/view`` into the job's folder; the unsaved row
    and the file, which is being made durable (``StagedObject.durable``).

    ``policy`` (the job's ``outputFormat``, metadata stripping) is applied on the way,
    so the row's sha256, size and type describe the file every delivery serves.
    """
    filename = ref.filename or "output"
    with child_span("outputs.fetch", {"job.id": job_id, "comfyui.node": ref.node}):
        processed = await process(client.download(ref), ref.content_type, policy or OutputPolicy())
        if processed.converted and policy is not None and policy.target is not None:
            filename = _converted_name(filename, policy.target.extension)
        stored_name = new_stored_name(filename, processed.content_type)
        attributes = {"job.id": job_id, "storage.provider": type(storage).__name__}
        with child_span("storage.save", attributes) as span:
            staged = await storage.stage(
                job_id, stored_name, processed.chunks, processed.content_type
            )
            stored = staged.record
            if span is not None:
                span.set_attribute("storage.size", stored.size)
    output = JobOutput(
        job_id=job_id,
        filename=filename,
        stored_name=stored_name,
        storage_path=stored.storage_path,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        node_id=ref.node,
        kind=ref.kind,
    )
    return output, staged


async def collect_and_succeed(
    *,
    sessions: async_sessionmaker[AsyncSession],
    client: ComfyUIClient,
    storage: Storage,
    job_id: str,
    attempt: int,
    refs: Sequence[OutputRef],
    cache_ttl_s: int,
    on_stored: Stored | None = None,
    log_lines: Callable[[list[JobOutput]], list[str]] | None = None,
    policy: OutputPolicy | None = None,
    earlier_lines: Sequence[tuple[str, str]] = (),
    running_values: dict[str, Any] | None = None,
    has_callback: bool | None = None,
    cacheable: bool | None = None,
) -> list[JobOutput] | None:
    """Store every file output and finish the job; None if another finisher won.

    ``earlier_lines`` and ``running_values`` are the runner's not yet written log lines
    and state: they commit in the success transaction instead of one of their own.
    A loser recorded nothing, so the job's outputs are listed exactly once; its files
    (fresh names nothing refers to) are deleted one by one, never the job's folder,
    which holds the winner's files too.

    Files are made durable (fsync, rename) while the transaction's statements run; it
    commits only once every file is durable under its name with its sha256.
    """
    outputs: list[JobOutput] = []
    staged: list[StagedObject] = []
    try:
        files = [ref for ref in refs if ref.is_file]
        for ref, (output, pending) in zip(
            files, await _stage_all(client, storage, job_id, files, policy), strict=True
        ):
            outputs.append(output)
            staged.append(pending)
            if on_stored is not None:
                await on_stored(ref.filename or "output")

        async def all_durable() -> None:
            for pending in staged:
                await pending.durable()

        with child_span("job.succeed", {"job.id": job_id, "job.outputs": len(outputs)}):
            async with sessions() as session:
                lines = log_lines(outputs) if log_lines is not None else []
                won = await transitions.succeed_with_outputs(
                    session,
                    job_id,
                    attempt=attempt,
                    outputs=outputs,
                    log_lines=lines,
                    earlier_lines=earlier_lines,
                    extra_values=running_values,
                    has_callback=has_callback,
                    cache_ttl_s=cache_ttl_s if cacheable is not False else 0,
                    before_commit=all_durable,
                )
    finally:
        # Every staged file is settled (durable or cleaned up) before anything else.
        await asyncio.gather(*(pending.finishing for pending in staged), return_exceptions=True)
    if not won:
        log.warning("job %s finished elsewhere; removing %d unused file(s)", job_id, len(outputs))
        await discard_outputs(storage, outputs)
        return None
    return outputs


async def _stage_all(
    client: ComfyUIClient,
    storage: Storage,
    job_id: str,
    refs: Sequence[OutputRef],
    policy: OutputPolicy | None,
) -> list[tuple[JobOutput, StagedObject]]:
    """Every file, ``PARALLEL_DOWNLOADS`` at a time (a batch of images is one wait, not
    several); on a failure the files already written are removed (no row names them)
    and the first failure in ComfyUI's order is raised, as one by one would have."""
    gate = asyncio.Semaphore(PARALLEL_DOWNLOADS)

    async def one(ref: OutputRef) -> tuple[JobOutput, StagedObject]:
        async with gate:
            return await stage_output(client, storage, job_id, ref, policy)

    results = await asyncio.gather(*(one(ref) for ref in refs), return_exceptions=True)
    done = [result for result in results if not isinstance(result, BaseException)]
    failure = next((result for result in results if isinstance(result, BaseException)), None)
    if failure is None:
        return done
    await asyncio.gather(*(staged.finishing for _, staged in done), return_exceptions=True)
    await discard_outputs(storage, [output for output, _ in done])
    raise failure


async def discard_outputs(storage: Storage, outputs: Sequence[JobOutput]) -> None:
    """Delete stored files no row refers to; a failure is logged, never raised."""
    for output in outputs:
        try:
            await storage.delete(output.job_id, output.stored_name)
        except StorageError as exc:
            log.warning("could not delete unused output %s: %s", output.stored_name, exc)
