"""The worker's client for one ComfyUI backend.

Usage::

    config = ClientConfig.from_timeout_ms(300_000)
    async with ComfyUIClient("http://127.0.0.1:8188", config) as comfy:
        submitted = await comfy.submit(graph, prompt_id=str(job_id))
        async for event in comfy.follow(submitted.prompt_id, graph=graph):
            ...  # NodeStarted, StepProgress, ..., then Finished / Interrupted / Failed
        async for chunk in comfy.download(ref):
            ...

or ``result = await comfy.run(graph, on_event=publish)``, which raises the classified
ComfyUI error instead of yielding ``Failed``.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from comfyui_gateway.errors import (
    ComfyUINodeError,
    ComfyUIUnreachable,
    OutputNotFound,
    ValidationError,
)
from comfyui_gateway.tracing import child_span
from worker.comfyui.catalogue import BackendCatalogue, summarise
from worker.comfyui.config import ClientConfig
from worker.comfyui.errors import classify_rejection
from worker.comfyui.events import Event, Failed, Finished, Interrupted
from worker.comfyui.follow import Backend, Follower
from worker.comfyui.history import HistoryRecord, parse_history
from worker.comfyui.outputs import OutputRef
from worker.comfyui.system import QueueSnapshot, SystemStats, parse_queue, parse_system_stats
from worker.comfyui.transport import Transport, unreachable, was_delivered
from worker.comfyui.websocket import EventStream

EventCallback = Callable[[Event], Awaitable[None]]


class Outcome(enum.StrEnum):
    """How a prompt ended without error; the gateway maps the last two to ``cancelled``."""

    SUCCEEDED = "succeeded"
    INTERRUPTED = "interrupted"  # stopped by /interrupt while executing
    REMOVED = "removed"  # deleted from ComfyUI's queue before it ran


class CancelOutcome(enum.StrEnum):
    """What ``cancel`` did."""

    REMOVED = "removed"  # was pending: deleted from the queue
    INTERRUPTED = "interrupted"  # was executing: interrupted
    NOT_FOUND = "not_found"  # neither pending nor executing (finished, or unknown)


@dataclass(frozen=True)
class SubmittedPrompt:
    """ComfyUI's answer to ``POST /prompt``; ``node_errors`` lists outputs it will skip."""

    prompt_id: str
    number: float
    node_errors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptResult:
    """A prompt that ended without error."""

    prompt_id: str
    outcome: Outcome
    outputs: tuple[OutputRef, ...] = ()


@dataclass(frozen=True)
class UploadedImage:
    """Where ``/upload/image`` put a file; ``name`` may differ from the one sent."""

    name: str
    subfolder: str
    type: str

    @property
    def load_image_value(self) -> str:
        """The value a LoadImage node's ``image`` input takes for this file."""
        path = f"{self.subfolder}/{self.name}" if self.subfolder else self.name
        return path if self.type == "input" else f"{path} [{self.type}]"


class ComfyUIClient:
    """HTTP + WebSocket client of one backend: one session and one socket, opened in
    ``start()`` (or ``async with``) and closed in ``close()``."""

    def __init__(
        self, base_url: str, config: ClientConfig | None = None, *, client_id: str | None = None
    ) -> None:
        self.config = config or ClientConfig()
        self.client_id = client_id or uuid.uuid4().hex
        self._http = Transport(base_url, self.config)
        self._stream: EventStream | None = None
        self._removed: set[str] = set()

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        await self._http.close()

    async def __aenter__(self) -> ComfyUIClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def stream(self) -> EventStream:
        if self._stream is None:
            self._stream = EventStream(
                self._http.session, self._http.ws_url(self.client_id), self.config
            )
        return self._stream

    # -- backend information ----------------------------------------------------------

    async def system_stats(self) -> SystemStats:
        """One attempt: a down backend raises ComfyUIUnreachable at once (for /health)."""
        return parse_system_stats(await self._http.get_json("/system_stats"))

    async def wait_ready(self, timeout_s: float | None = None) -> SystemStats:
        """``system_stats`` retried with backoff while ComfyUI is starting."""
        stats: SystemStats = await self._while_starting(self.system_stats, timeout_s)
        return stats

    async def object_info(self) -> BackendCatalogue:
        return summarise(await self._http.get_json("/object_info") or {})

    async def queue(self) -> QueueSnapshot:
        return parse_queue(await self._http.get_json("/queue"))

    async def history(self, prompt_id: str) -> HistoryRecord | None:
        return parse_history(prompt_id, await self._http.get_json(f"/history/{prompt_id}"))

    # -- running prompts --------------------------------------------------------------

    async def submit(
        self,
        graph: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        front: bool = False,
    ) -> SubmittedPrompt:
        """Queue ``graph`` under our ``client_id`` and ``prompt_id`` (a fresh uuid if None).

        Waits up to ``startup_wait_s`` for a ComfyUI that is still starting. Raises
        ComfyUINodeError when ComfyUI rejects the prompt (HTTP 400), ComfyUIUnreachable
        when it cannot be reached.
        """
        prompt_id = prompt_id or str(uuid.uuid4())
        body: dict[str, Any] = {
            "prompt": dict(graph),
            "client_id": self.client_id,
            "prompt_id": prompt_id,
        }
        if extra_data:
            body["extra_data"] = dict(extra_data)
        if front:
            body["front"] = True
        # Subscribe before posting so that no early message of this prompt is missed.
        self.stream.subscribe(prompt_id)
        await self.stream.wait_connected(self.config.ws_connect_wait_s)
        try:
            status, answer = await self._while_starting(
                lambda: self._http.post_json("/prompt", body), None
            )
        except BaseException:
            self.stream.unsubscribe(prompt_id)
            raise
        if status != 200 or not isinstance(answer, dict):
            self.stream.unsubscribe(prompt_id)
            raise classify_rejection(status, answer)
        return SubmittedPrompt(
            str(answer.get("prompt_id", prompt_id)),
            float(answer.get("number", 0)),
            answer.get("node_errors") or {},
        )

    def follow(
        self,
        prompt_id: str,
        *,
        graph: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> AsyncIterator[Event]:
        """Events of ``prompt_id`` until one terminal event (Finished/Interrupted/Failed).

        ``graph`` (the submitted prompt) improves the progress estimate and node types;
        ``timeout_s`` defaults to ``run_timeout_s``.
        """
        backend = Backend(self.history, self.queue, self.cancel, self._removed)
        follower = Follower(prompt_id, backend, self.stream, self.config, graph, timeout_s)
        return follower.events()

    async def wait(
        self,
        prompt_id: str,
        *,
        graph: Mapping[str, Any] | None = None,
        on_event: EventCallback | None = None,
        timeout_s: float | None = None,
    ) -> PromptResult:
        """Follow to the end; returns the result or raises the classified ComfyUIError.

        One span covers the execution as followed over the WebSocket (or by polling).
        """
        with child_span("comfyui.follow", {"comfyui.prompt_id": prompt_id}):
            async for event in self.follow(prompt_id, graph=graph, timeout_s=timeout_s):
                if on_event is not None:
                    await on_event(event)
                if isinstance(event, Finished):
                    return PromptResult(prompt_id, Outcome.SUCCEEDED, event.outputs)
                if isinstance(event, Interrupted):
                    outcome = Outcome.REMOVED if event.removed else Outcome.INTERRUPTED
                    return PromptResult(prompt_id, outcome)
                if isinstance(event, Failed):
                    raise event.error
        raise ComfyUIUnreachable(f"lost track of prompt {prompt_id}")  # pragma: no cover

    async def run(
        self,
        graph: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        on_event: EventCallback | None = None,
        timeout_s: float | None = None,
    ) -> PromptResult:
        """``submit`` then ``wait``."""
        submitted = await self.submit(graph, prompt_id=prompt_id, extra_data=extra_data)
        return await self.wait(
            submitted.prompt_id, graph=graph, on_event=on_event, timeout_s=timeout_s
        )

    async def cancel(self, prompt_id: str) -> CancelOutcome:
        """Delete ``prompt_id`` if pending; interrupt it only if it is the one executing."""
        snapshot = await self.queue()
        if snapshot.is_pending(prompt_id):
            await self._http.post_json("/queue", {"delete": [prompt_id]})
            snapshot = await self.queue()
            if not snapshot.is_running(prompt_id):
                self._removed.add(prompt_id)
                self.stream.notify(prompt_id, Interrupted(prompt_id=prompt_id, removed=True))
                return CancelOutcome.REMOVED
        if snapshot.is_running(prompt_id):
            # The body names the prompt, so even a race with the next prompt is harmless
            # on ComfyUI >= 0.3.4x; the queue check protects older servers.
            await self._http.post_json("/interrupt", {"prompt_id": prompt_id})
            return CancelOutcome.INTERRUPTED
        return CancelOutcome.NOT_FOUND

    # -- files -------------------------------------------------------------------------

    async def download(
        self, ref: OutputRef, *, chunk_size: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes of ``ref`` from ``/view``, chunk by chunk (never the whole file)."""
        size = chunk_size or self.config.download_chunk_bytes
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.config.connect_timeout_s,
            sock_read=self.config.request_timeout_s,
        )
        async with self._http.request(
            "GET", "/view", params=ref.view_params(), read_timeout=timeout
        ) as response:
            if response.status == 404:
                raise OutputNotFound(
                    f"ComfyUI has no file {ref.filename!r} ({ref.type})",
                    details={
                        "filename": ref.filename,
                        "subfolder": ref.subfolder,
                        "type": ref.type,
                    },
                )
            if response.status == 400:
                # ComfyUI's /view refuses names with '..' or a leading '/', which a
                # SaveImage filename_prefix can produce: the workflow's fault, for good.
                raise ComfyUINodeError(
                    "ComfyUI refuses to serve an output file name it wrote (HTTP 400 from "
                    "/view): check the SaveImage filename_prefix (no '..', no leading '/')",
                    details={"filename": ref.filename, "subfolder": ref.subfolder},
                )
            if response.status != 200:
                raise ComfyUIUnreachable(
                    f"GET /view answered HTTP {response.status}",
                    details={"status": response.status},
                )
            async for chunk in response.content.iter_chunked(size):
                yield chunk

    async def upload_image(
        self,
        data: bytes | Path,
        filename: str,
        *,
        subfolder: str = "",
        type: str = "input",
        overwrite: bool = False,
    ) -> UploadedImage:
        """``POST /upload/image``; a ``Path`` is streamed from disk."""
        form = aiohttp.FormData()
        payload: Any = await asyncio.to_thread(data.open, "rb") if isinstance(data, Path) else data
        try:
            form.add_field(
                "image", payload, filename=filename, content_type="application/octet-stream"
            )
            form.add_field("type", type)
            form.add_field("subfolder", subfolder)
            if overwrite:
                form.add_field("overwrite", "true")
            status, answer = await self._http.post_form("/upload/image", form)
        finally:
            if isinstance(data, Path):
                payload.close()
        if status != 200 or not isinstance(answer, dict):
            raise ValidationError(
                f"ComfyUI refused the upload of {filename!r} (HTTP {status})",
                details={"filename": filename, "subfolder": subfolder, "type": type},
            )
        return UploadedImage(
            str(answer["name"]), str(answer.get("subfolder", "")), str(answer.get("type", type))
        )

    # -- helpers -----------------------------------------------------------------------

    async def _while_starting(
        self, call: Callable[[], Awaitable[Any]], timeout_s: float | None
    ) -> Any:
        """Retry ``call`` while ComfyUI refuses connections or answers 502/503/504."""
        limit = self.config.startup_wait_s if timeout_s is None else timeout_s

        def starting(exc: BaseException) -> bool:
            return isinstance(exc, ComfyUIUnreachable) and not was_delivered(exc)

        retrying = AsyncRetrying(
            stop=stop_after_delay(limit),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            retry=retry_if_exception(starting),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise unreachable(self.base_url, "gave up waiting", delivered=False)  # pragma: no cover
