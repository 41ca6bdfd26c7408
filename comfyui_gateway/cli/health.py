"""``comfyui-gateway health``: can we reach ComfyUI, and is the gateway up?"""

from __future__ import annotations

from typing import Any

import aiohttp

from comfyui_gateway.config import Settings

TIMEOUT = aiohttp.ClientTimeout(total=5)


async def check_health(settings: Settings, gateway_url: str | None) -> tuple[dict[str, Any], bool]:
    """A report for humans and an overall verdict: the gateway answers /health and every
    backend answers /system_stats (so the command can serve as a probe)."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        backends = [await _check_comfyui(session, url) for url in settings.comfyui_urls]
        gateway = await _check_gateway(session, gateway_url or f"http://127.0.0.1:{settings.PORT}")
    gateway_up = gateway["status"] is not None and gateway["status"] < 500
    healthy = gateway_up and all(backend["reachable"] for backend in backends)
    return {"comfyui": backends, "gateway": gateway}, healthy


async def _check_comfyui(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    try:
        async with session.get(f"{url}/system_stats") as response:
            if response.status != 200:
                return {"url": url, "reachable": False, "error": f"HTTP {response.status}"}
            stats = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"url": url, "reachable": False, "error": str(exc) or type(exc).__name__}
    system = stats.get("system", {})
    devices = [device.get("name") for device in stats.get("devices", [])]
    return {
        "url": url,
        "reachable": True,
        "version": system.get("comfyui_version"),
        "devices": devices,
    }


async def _check_gateway(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    try:
        async with session.get(f"{base_url.rstrip('/')}/health") as response:
            body: dict[str, Any] = await response.json(content_type=None)
            return {"url": base_url, "status": response.status, "health": body}
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return {"url": base_url, "status": None, "error": str(exc) or type(exc).__name__}
