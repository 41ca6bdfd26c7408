"""Runs queued prompts one at a time and tells the WebSocket clients about it.

The message sequence, its routing and the history entry follow ComfyUI 0.3.64 (see
``comfyui-protocol.md``): execution messages go to the prompt's ``client_id`` only (to
nobody without one), ``progress``/``progress_state``/previews to that client or to every
socket, and only the outputs of the previous prompt are reused from cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from comfyui_emulator.catalogue import Catalogue
from comfyui_emulator.config import EmulatorConfig
from comfyui_emulator.failures import FailureKind, FailurePlan, InjectedError, injected_error
from comfyui_emulator.graph import execution_order, resolve_inputs, signature
from comfyui_emulator.hub import PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA, Hub
from comfyui_emulator.nodes import NODES
from comfyui_emulator.prompt_queue import PromptQueue, QueueItem
from comfyui_emulator.storage import Storage
from comfyui_emulator.values import Model

log = logging.getLogger("comfyui_emulator")
SAMPLERS = ("KSampler", "KSamplerAdvanced")


class Interrupted(Exception):
    """Raised inside a node when ``/interrupt`` was called for the running prompt."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _format(value: Any) -> Any:
    """ComfyUI's ``format_value`` for ``current_inputs``: primitives as-is, else a repr."""
    if value is None or isinstance(value, int | float | bool | str):
        return value
    if isinstance(value, list) and value and isinstance(value[0], Image.Image):
        width, height = value[0].size
        return f"tensor of shape [{len(value)}, {height}, {width}, {len(value[0].getbands())}]"
    return str(value)


@dataclass
class _Run:
    """Everything about the prompt being executed."""

    item: QueueItem
    client_id: str | None
    plan: FailurePlan | None
    fail_node: str | None
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    messages: list[list[Any]] = field(default_factory=list)

    @property
    def prompt_id(self) -> str:
        return str(self.item[1])


class _Context:
    """The ``NodeContext`` handed to one node implementation."""

    def __init__(self, executor: Executor, run: _Run, node_id: str) -> None:
        self.storage = executor.storage
        self.prompt: dict[str, Any] = run.item[2]
        self.extra_pnginfo = run.item[3].get("extra_pnginfo")
        self.node_id = node_id
        self.previews = executor.config.preview_method != "none"
        self._executor = executor
        self._run = run

    async def step(
        self, value: int, total: int, preview: tuple[str, bytes] | None, *, wait: bool = True
    ) -> None:
        await self._executor.step(self._run, self.node_id, value, total, preview, wait)

    async def ensure_loaded(self, checkpoint: str) -> None:
        await self._executor.ensure_loaded(checkpoint)


class Executor:
    """The prompt worker: ``await run_forever()`` takes prompts off the queue and runs them.

    ``crash`` is awaited when a prompt asks for the ``crash`` failure.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        storage: Storage,
        catalogue: Catalogue,
        queue: PromptQueue,
        hub: Hub,
        crash: Callable[[], Awaitable[None]],
    ) -> None:
        self.config = config
        self.storage = storage
        self._catalogue = catalogue
        self._queue = queue
        self._hub = hub
        self._crash = crash
        self._cache: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._interrupt = False
        self._running = False
        self._free_unload = False
        self._free_memory = False
        #: Checkpoints in (emulated) VRAM, most recently used first.
        self.resident: list[str] = []
        #: Every checkpoint load paid so far, in order (for tests and benchmarks).
        self.loads: list[str] = []
        #: The client of the latest prompt and the node it is on, for reconnects.
        self.client_id: str | None = None
        self.last_node_id: str | None = None

    def _file_stamp(self, name: str) -> str:
        """What identifies an image file's content for the cache: its SHA-256, as
        LoadImage's ``IS_CHANGED`` in ComfyUI."""
        digest = hashlib.sha256()
        try:
            with open(self.storage.annotated_path(name), "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return "missing"
        return digest.hexdigest()

    def interrupt(self) -> None:
        self._interrupt = True

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """``POST /free``: flags the worker applies once the running prompt is done.

        As ComfyUI's prompt worker: ``unload_models`` (implied by ``free_memory``)
        takes every model out of (emulated) VRAM; ``free_memory`` also drops the
        execution cache, so the next prompt loads its checkpoint from disk again.
        """
        self._free_unload = self._free_unload or unload_models or free_memory
        self._free_memory = self._free_memory or free_memory
        if not self._running:
            self._apply_free()

    def _apply_free(self) -> None:
        if self._free_unload:
            log.info("unloading all models")
            self.resident.clear()
        if self._free_memory:
            self._cache.clear()
        self._free_unload = self._free_memory = False

    async def ensure_loaded(self, checkpoint: str) -> None:
        """Pay ``load_ms`` for a checkpoint that is not resident, then mark it resident."""
        if checkpoint in self.resident:
            self.resident.remove(checkpoint)
        else:
            log.info("Requested to load %s", checkpoint)
            self.loads.append(checkpoint)
            if self.config.load_ms > 0:
                await asyncio.sleep(self.config.load_ms / 1000.0)
        self.resident.insert(0, checkpoint)

    def _release_unreferenced(self) -> None:
        """Models nothing in the cache refers to any more are freed, as ComfyUI's
        ``cleanup_models`` does when the last reference to a model goes away."""
        held = {
            value.name
            for outputs, _ui in self._cache.values()
            for value in outputs
            if isinstance(value, Model)
        }
        self.resident[:] = [name for name in self.resident if name in held]

    async def run_forever(self) -> None:
        while True:
            item = await self._queue.get()
            self._running = True
            try:
                await self._execute(item)
            except Exception:
                # A bug here must not stop the worker: every later prompt would hang.
                log.exception("emulator failed to execute prompt %s", item[1])
                status = {"status_str": "error", "completed": False, "messages": []}
                self._queue.task_done(
                    item, {"prompt": item, "outputs": {}, "status": status, "meta": {}}
                )
            finally:
                self._running = False
                self._release_unreferenced()
                self._apply_free()

    # -- one prompt ---------------------------------------------------------------------

    async def _execute(self, item: QueueItem) -> None:
        prompt: dict[str, Any] = item[2]
        extra: dict[str, Any] = item[3]
        client_id = extra.get("client_id")
        memo: dict[str, str] = {}
        signatures = {
            node_id: signature(prompt, node_id, memo, self._file_stamp) for node_id in prompt
        }
        # ComfyUI's classic cache keeps what the new prompt can reuse and drops the rest.
        cache, self._cache = self._cache, {}
        for key in signatures.values():
            if key in cache:
                self._cache[key] = cache[key]
        order = execution_order(prompt, list(item[4]), lambda n: signatures[n] in cache)
        plan = FailurePlan.from_json(extra.get("emulator")) or self.config.fail
        run = _Run(item, client_id, plan, self._fail_node(plan, prompt, order))
        self._interrupt = False
        self.client_id = client_id
        outputs: dict[str, Any] = {}
        status = "success"
        self._status_message(
            run, "execution_start", {"prompt_id": run.prompt_id, "timestamp": _now_ms()}
        )
        cached = [node_id for node_id in prompt if signatures[node_id] in cache]
        self._status_message(
            run,
            "execution_cached",
            {"nodes": cached, "prompt_id": run.prompt_id, "timestamp": _now_ms()},
        )
        values: dict[str, tuple[Any, ...]] = {
            node_id: cache[signatures[node_id]][0] for node_id in cached
        }
        current: str | None = None
        try:
            for node_id in order:
                current = node_id
                if self._interrupt:
                    raise Interrupted
                key = signatures[node_id]
                if key in cache:
                    self._cached_node(run, node_id, cache[key][1], outputs)
                    continue
                values[node_id], ui = await self._run_node(run, node_id, values)
                self._cache[key] = (values[node_id], ui)
                if ui:
                    outputs[node_id] = ui
                    self._send(
                        run,
                        "executed",
                        {
                            "node": node_id,
                            "display_node": node_id,
                            "output": ui,
                            "prompt_id": run.prompt_id,
                        },
                    )
                self._set_state(run, node_id, "finished")
            self._status_message(
                run, "execution_success", {"prompt_id": run.prompt_id, "timestamp": _now_ms()}
            )
        except Interrupted:
            status = "error"
            node_id = current or ""
            self._status_message(
                run,
                "execution_interrupted",
                {
                    "prompt_id": run.prompt_id,
                    "node_id": node_id,
                    "node_type": prompt.get(node_id, {}).get("class_type"),
                    "executed": list(run.executed),
                    "timestamp": _now_ms(),
                },
            )
        except Exception as exc:
            status = "error"
            self._status_message(
                run, "execution_error", self._error_payload(run, current or "", exc, values)
            )
        finally:
            self.last_node_id = None
        entry = {
            "prompt": item,
            "outputs": outputs if status == "success" else {},
            "status": {
                "status_str": status,
                "completed": status == "success",
                "messages": run.messages,
            },
            "meta": {
                node_id: {
                    "node_id": node_id,
                    "display_node": node_id,
                    "parent_node": None,
                    "real_node_id": node_id,
                }
                for node_id in outputs
            }
            if status == "success"
            else {},
        }
        self._queue.task_done(item, entry)
        self._send(run, "executing", {"node": None, "prompt_id": run.prompt_id})
        if client_id is not None and client_id in self._hub.muted:
            await self._hub.flush()
            self._hub.muted.discard(client_id)

    async def _run_node(
        self, run: _Run, node_id: str, values: dict[str, tuple[Any, ...]]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        node = run.item[2][node_id]
        class_type = node["class_type"]
        self._set_state(run, node_id, "running")
        self.last_node_id = node_id
        self._send(
            run, "executing", {"node": node_id, "display_node": node_id, "prompt_id": run.prompt_id}
        )
        inputs = resolve_inputs(node, values)
        if node_id == run.fail_node and class_type not in SAMPLERS:
            await self._inject(run)
        if class_type not in SAMPLERS and self.config.node_ms:
            await asyncio.sleep(self.config.node_ms / 1000.0)
        result = await NODES[class_type](_Context(self, run, node_id), inputs)
        run.executed.append(node_id)
        return result.outputs, result.ui

    def _cached_node(
        self, run: _Run, node_id: str, ui: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        """A cached output node: ``executed`` from the cache, then its progress finishes.

        Only output nodes get here (cached dependencies never enter the execution
        list), and they do not count as ``executed`` in error messages.
        """
        if ui:
            outputs[node_id] = ui
        self._send(
            run,
            "executed",
            {
                "node": node_id,
                "display_node": node_id,
                "output": ui or None,
                "prompt_id": run.prompt_id,
            },
        )
        # A node that never started finishes at the registry's integer defaults.
        run.states[node_id] = self._state(run, node_id, 1, 1, "finished")
        self._send_progress(
            run, "progress_state", {"prompt_id": run.prompt_id, "nodes": dict(run.states)}
        )

    async def step(
        self,
        run: _Run,
        node_id: str,
        value: int,
        total: int,
        preview: tuple[str, bytes] | None,
        wait: bool,
    ) -> None:
        """A sampler step (or a websocket image): progress messages, previews, failures."""
        if self._interrupt:
            raise Interrupted
        if node_id == run.fail_node and run.plan is not None and value == run.plan.at_step:
            await self._inject(run)
        run.states[node_id] = self._state(run, node_id, value, total, "running")
        self._send_progress(
            run, "progress_state", {"prompt_id": run.prompt_id, "nodes": dict(run.states)}
        )
        metadata = self._hub.wants_metadata(run.client_id)
        if preview is not None and metadata:
            info = json.dumps(
                {
                    "node_id": node_id,
                    "prompt_id": run.prompt_id,
                    "display_node_id": node_id,
                    "parent_node_id": None,
                    "real_node_id": node_id,
                    "image_type": "image/png" if preview[0] == "PNG" else "image/jpeg",
                }
            ).encode()
            self._hub.send_bytes(
                PREVIEW_IMAGE_WITH_METADATA,
                struct.pack(">I", len(info)) + info + preview[1],
                run.client_id,
            )
        self._send_progress(
            run,
            "progress",
            {"value": value, "max": total, "prompt_id": run.prompt_id, "node": node_id},
        )
        if preview is not None and not metadata:
            fmt = 2 if preview[0] == "PNG" else 1
            self._hub.send_bytes(PREVIEW_IMAGE, struct.pack(">I", fmt) + preview[1], run.client_id)
        if wait:
            await asyncio.sleep(self.config.step_ms / 1000.0)

    # -- failures -----------------------------------------------------------------------

    @staticmethod
    def _fail_node(
        plan: FailurePlan | None, prompt: dict[str, Any], order: list[str]
    ) -> str | None:
        if plan is None:
            return None
        if plan.at_node is not None:
            return plan.at_node
        samplers = [node_id for node_id in order if prompt[node_id]["class_type"] in SAMPLERS]
        candidates = samplers or order
        return candidates[0] if candidates else None

    async def _inject(self, run: _Run) -> None:
        plan = run.plan
        assert plan is not None
        log.info("injecting %s into prompt %s", plan.kind.value, run.prompt_id)
        if plan.kind in (FailureKind.OOM, FailureKind.NODE_ERROR):
            raise injected_error(plan.kind)
        if run.client_id is None:
            return
        if plan.kind is FailureKind.WS_DROP:
            await self._hub.flush()
            self._hub.drop(run.client_id)
        elif plan.kind is FailureKind.WS_SILENCE:
            self._hub.muted.add(run.client_id)
        elif plan.kind is FailureKind.CRASH:
            await self._crash()

    # -- messages -------------------------------------------------------------------------

    def _send(self, run: _Run, event: str, data: dict[str, Any]) -> None:
        """Execution messages: to the prompt's client only, to nobody without one."""
        if run.client_id is not None:
            self._hub.send(event, data, run.client_id)

    def _send_progress(self, run: _Run, event: str, data: dict[str, Any]) -> None:
        """progress / progress_state: to the client, or broadcast when there is none."""
        self._hub.send(event, data, run.client_id)

    def _status_message(self, run: _Run, event: str, data: dict[str, Any]) -> None:
        run.messages.append([event, data])
        self._send(run, event, data)

    @staticmethod
    def _state(run: _Run, node_id: str, value: float, maximum: float, state: str) -> dict[str, Any]:
        return {
            "value": value,
            "max": maximum,
            "state": state,
            "node_id": node_id,
            "prompt_id": run.prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
        }

    def _set_state(self, run: _Run, node_id: str, state: str) -> None:
        previous = run.states.get(node_id)
        if state == "running":
            run.states[node_id] = self._state(run, node_id, 0.0, 1.0, "running")
        else:
            maximum = previous["max"] if previous else 1.0
            run.states[node_id] = self._state(run, node_id, maximum, maximum, "finished")
        self._send_progress(
            run, "progress_state", {"prompt_id": run.prompt_id, "nodes": dict(run.states)}
        )

    def _error_payload(
        self, run: _Run, node_id: str, exc: Exception, values: dict[str, tuple[Any, ...]]
    ) -> dict[str, Any]:
        node = run.item[2].get(node_id, {})
        if isinstance(exc, InjectedError):
            exception_type = exc.exception_type
        else:
            module = type(exc).__module__
            exception_type = (
                type(exc).__qualname__
                if module == "builtins"
                else f"{module}.{type(exc).__qualname__}"
            )
        tips = ""
        if exception_type.endswith("OutOfMemoryError"):
            tips = (
                "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow "
                "worked before you might have accidentally set the batch_size to a large number."
            )
        try:
            inputs = resolve_inputs(node, values)
        except (KeyError, IndexError):
            inputs = {}
        return {
            "prompt_id": run.prompt_id,
            "node_id": node_id,
            "node_type": node.get("class_type"),
            "executed": list(run.executed),
            "exception_message": f"{exc}\n{tips}",
            "exception_type": exception_type,
            "traceback": traceback.format_tb(exc.__traceback__),
            "current_inputs": {name: [_format(value)] for name, value in inputs.items()},
            "current_outputs": list(run.executed),
            "timestamp": _now_ms(),
        }
