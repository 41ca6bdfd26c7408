"""One look at a ComfyUI backend: reachable? version, queue depth, nodes and models.

Used by the backend monitor. A refused connection, a timeout or a 5xx means
"unreachable" (a ComfyUI still starting answers exactly like that); the node
catalogue comes from ``/object_info`` (about 500 KB), so it is fetched once and then
only every ``CATALOGUE_REFRESH_S``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from comfyui_gateway.backends import BackendReport

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5)
CATALOGUE_REFRESH_S = 60.0

# Loader node input -> the model folder it lists (as ComfyUI names its folders).
MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("VAELoader", "vae_name"): "vae",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
}


@dataclass
class CatalogueCache:
    """The last node catalogue seen for one backend, and when."""

    node_classes: list[str] = field(default_factory=list)
    models: dict[str, list[str]] = field(default_factory=dict)
    fetched_at: float = 0.0

    def stale(self) -> bool:
        return time.monotonic() - self.fetched_at > CATALOGUE_REFRESH_S


class BackendProbe:
    """Probes one backend; keeps its catalogue between calls."""

    def __init__(self, url: str, worker_id: str = "") -> None:
        self.url = url
        self._worker_id = worker_id
        self._catalogue = CatalogueCache()

    async def __call__(self, url: str | None = None) -> BackendReport:
        try:
            async with aiohttp.ClientSession(timeout=PROBE_TIMEOUT) as session:
                stats = await _get_json(session, f"{self.url}/system_stats")
                queue = await _get_json(session, f"{self.url}/queue")
                if self._catalogue.stale():
                    info = await _get_json(session, f"{self.url}/object_info")
                    self._catalogue = summarise_catalogue(info)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self._catalogue = CatalogueCache()
            return BackendReport(url=self.url, reachable=False, worker_id=self._worker_id)
        return BackendReport(
            url=self.url,
            reachable=True,
            queue_remaining=len(queue.get("queue_running", []))
            + len(queue.get("queue_pending", [])),
            comfyui_version=str(stats.get("system", {}).get("comfyui_version", "")),
            models=self._catalogue.models,
            node_classes=self._catalogue.node_classes,
            worker_id=self._worker_id,
        )


def summarise_catalogue(object_info: dict[str, Any]) -> CatalogueCache:
    """Node class names and model lists by folder, from ``GET /object_info``."""
    models: dict[str, list[str]] = {}
    for (node, input_name), folder in MODEL_INPUTS.items():
        spec = object_info.get(node, {}).get("input", {}).get("required", {}).get(input_name)
        names = _combo_values(spec)
        if names is not None:
            models[folder] = names
    return CatalogueCache(
        node_classes=sorted(object_info), models=models, fetched_at=time.monotonic()
    )


def _combo_values(spec: Any) -> list[str] | None:
    """Both combo forms: legacy ``[[a, b], {...}]`` and V3 ``["COMBO", {"options": [...]}]``."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [str(value) for value in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return [str(value) for value in spec[1].get("options", [])]
    return None


async def _get_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url) as response:
        if response.status >= 500:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message="server error"
            )
        body: dict[str, Any] = await response.json(content_type=None)
        return body


async def probe_backend(url: str) -> BackendReport:
    """A one-off probe (no catalogue kept between calls)."""
    return await BackendProbe(url)(url)
