"""What answers at ``dev``'s default ComfyUI address: a ComfyUI, nothing, or a stranger.

A user who already runs ComfyUI on 8188 expects ``dev`` to use it; a free address gets
the bundled emulator; anything else there (a web server that is not ComfyUI, a process
that does not speak HTTP) must not be mistaken for ComfyUI, so the emulator goes to a
free port instead. ComfyUI-compatible means what the worker relies on first:
``/system_stats`` answers a JSON object with ``system`` and ``devices``, and
``/object_info/KSampler`` describes that node with ``input`` and ``output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3)


class Found(StrEnum):
    COMFYUI = "comfyui"
    NOTHING = "nothing"
    OTHER = "other"


@dataclass(frozen=True)
class Probe:
    """The verdict and a few words for the log (version and device, or what was wrong)."""

    found: Found
    detail: str


async def probe_comfyui(url: str) -> Probe:
    """Look at ``url`` once; never raises (see the module docstring)."""
    try:
        async with aiohttp.ClientSession(timeout=PROBE_TIMEOUT) as session:
            stats = await _json(session, f"{url}/system_stats")
            info = await _json(session, f"{url}/object_info/KSampler")
    except aiohttp.ClientConnectorError:
        return Probe(Found.NOTHING, "nothing is listening")
    except _NotComfyUI as exc:
        return Probe(Found.OTHER, str(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Probe(Found.OTHER, f"it does not answer HTTP ({type(exc).__name__})")
    return _judge(stats, info)


class _NotComfyUI(Exception):
    pass


async def _json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        if response.status != 200:
            raise _NotComfyUI(f"GET {url.rsplit('/', 1)[-1]} answered HTTP {response.status}")
        try:
            return await response.json(content_type=None)
        except ValueError as exc:
            raise _NotComfyUI(f"GET {url.rsplit('/', 1)[-1]} did not answer JSON") from exc


def _judge(stats: Any, info: Any) -> Probe:
    system = stats.get("system") if isinstance(stats, dict) else None
    devices = stats.get("devices") if isinstance(stats, dict) else None
    if not isinstance(system, dict) or not isinstance(devices, list):
        return Probe(Found.OTHER, "/system_stats is not ComfyUI's")
    node = info.get("KSampler") if isinstance(info, dict) else None
    if not isinstance(node, dict) or "input" not in node or "output" not in node:
        return Probe(Found.OTHER, "/object_info has no KSampler node")
    names = [str(d.get("name")) for d in devices if isinstance(d, dict) and d.get("name")]
    version = system.get("comfyui_version") or "unknown version"
    return Probe(Found.COMFYUI, f"ComfyUI {version}, devices: {', '.join(names) or 'none'}")
