"""ComfyUI's ``PromptQueue``: a priority heap of pending prompts, the running set, history.

Items are the 5-element lists ComfyUI shows in ``/queue`` and history:
``[number, prompt_id, prompt, extra_data, outputs_to_execute]``. Lower numbers run first,
which is how ``front: true`` (a negative number) jumps the queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

QueueItem = list[Any]
MAX_HISTORY = 10000


class PromptQueue:
    """Pending, running and finished prompts; ``on_change`` fires on every queue change.

    Usage: ``queue.put(item)``; the executor awaits ``queue.get()`` and calls
    ``queue.task_done(item, entry)`` with the history entry.
    """

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._heap: list[tuple[float, int, QueueItem]] = []
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self.running: dict[str, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self._on_change = on_change

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self._heap, (float(item[0]), next(self._seq), item))
        self._ready.set()
        self._on_change()

    async def get(self) -> QueueItem:
        while not self._heap:
            self._ready.clear()
            await self._ready.wait()
        item = heapq.heappop(self._heap)[2]
        self.running[item[1]] = item
        self._on_change()
        return item

    def task_done(self, item: QueueItem, entry: dict[str, Any]) -> None:
        self.running.pop(item[1], None)
        if len(self.history) >= MAX_HISTORY:
            self.history.pop(next(iter(self.history)))
        self.history[item[1]] = entry
        self._on_change()

    @property
    def pending(self) -> list[QueueItem]:
        return [entry[2] for entry in self._heap]

    def remaining(self) -> int:
        """``exec_info.queue_remaining``: running plus pending."""
        return len(self._heap) + len(self.running)

    def delete(self, prompt_ids: list[Any]) -> None:
        """Drop pending prompts by id; running ones and unknown ids are left alone."""
        wanted = {str(prompt_id) for prompt_id in prompt_ids}
        kept = [entry for entry in self._heap if entry[2][1] not in wanted]
        if len(kept) != len(self._heap):
            self._heap = kept
            heapq.heapify(self._heap)
            self._on_change()

    def clear(self) -> None:
        self._heap = []
        self._on_change()

    def history_page(self, max_items: int | None, offset: int) -> dict[str, Any]:
        """``get_history``: oldest first; ``max_items`` alone means the newest N."""
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for index, (key, value) in enumerate(self.history.items()):
            if index >= offset:
                out[key] = value
                if max_items is not None and len(out) >= max_items:
                    break
        return out
