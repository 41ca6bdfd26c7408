"""``GET /system_stats`` and ``GET /queue`` as small typed snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Device:
    """A compute device ComfyUI uses; VRAM figures are bytes."""

    name: str
    type: str
    index: int | None
    vram_total: int
    vram_free: int


@dataclass(frozen=True)
class SystemStats:
    """What ``/health`` and capacity planning need from ``/system_stats``."""

    comfyui_version: str | None
    python_version: str | None
    pytorch_version: str | None
    os: str | None
    ram_total: int | None
    ram_free: int | None
    devices: tuple[Device, ...]

    @property
    def vram_total(self) -> int:
        return sum(device.vram_total for device in self.devices)

    @property
    def vram_free(self) -> int:
        return sum(device.vram_free for device in self.devices)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def parse_system_stats(body: Any) -> SystemStats:
    system = body.get("system", {}) if isinstance(body, dict) else {}
    devices = body.get("devices", []) if isinstance(body, dict) else []
    return SystemStats(
        comfyui_version=system.get("comfyui_version"),
        python_version=system.get("python_version"),
        pytorch_version=system.get("pytorch_version"),
        os=system.get("os"),
        ram_total=system.get("ram_total"),
        ram_free=system.get("ram_free"),
        devices=tuple(
            Device(
                name=str(device.get("name", "")),
                type=str(device.get("type", "")),
                index=device.get("index") if isinstance(device.get("index"), int) else None,
                vram_total=_int(device.get("vram_total")),
                vram_free=_int(device.get("vram_free")),
            )
            for device in devices
            if isinstance(device, dict)
        ),
    )


@dataclass(frozen=True)
class QueueEntry:
    """One ``[number, prompt_id, prompt, extra_data, outputs]`` item of ``/queue``."""

    number: float
    prompt_id: str
    client_id: str | None


@dataclass(frozen=True)
class QueueSnapshot:
    """ComfyUI's queue at one moment: what runs and what waits."""

    running: tuple[QueueEntry, ...]
    pending: tuple[QueueEntry, ...]

    def is_running(self, prompt_id: str) -> bool:
        return any(entry.prompt_id == prompt_id for entry in self.running)

    def is_pending(self, prompt_id: str) -> bool:
        return any(entry.prompt_id == prompt_id for entry in self.pending)

    def position(self, prompt_id: str) -> int | None:
        """0 while running, 1.. in pending order (lowest number runs first), else None."""
        if self.is_running(prompt_id):
            return 0
        ordered = sorted(self.pending, key=lambda entry: entry.number)
        for index, entry in enumerate(ordered, start=1):
            if entry.prompt_id == prompt_id:
                return index
        return None

    @property
    def depth(self) -> int:
        return len(self.running) + len(self.pending)


def _entries(items: Any) -> tuple[QueueEntry, ...]:
    entries: list[QueueEntry] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, list) and len(item) >= 2:
            extra = item[3] if len(item) > 3 and isinstance(item[3], dict) else {}
            number = item[0] if isinstance(item[0], int | float) else 0
            entries.append(QueueEntry(float(number), str(item[1]), extra.get("client_id")))
    return tuple(entries)


def parse_queue(body: Any) -> QueueSnapshot:
    body = body if isinstance(body, dict) else {}
    return QueueSnapshot(_entries(body.get("queue_running")), _entries(body.get("queue_pending")))
