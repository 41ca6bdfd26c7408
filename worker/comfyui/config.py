"""Client settings: every wait the client does has a bound here, with its unit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ClientConfig:
    """Timeouts and retry bounds for one ComfyUI backend.

    Usage: ``ClientConfig.from_timeout_ms(settings.comfyui_timeout_ms)``.
    """

    #: Seconds a single HTTP call may take end to end (``/view`` downloads: per read).
    request_timeout_s: float = 30.0
    #: Seconds to open a TCP connection.
    connect_timeout_s: float = 5.0
    #: Seconds a prompt may take from submission to result (``COMFYUI_TIMEOUT_MS``).
    run_timeout_s: float = 300.0
    #: Seconds without any WebSocket message for a running prompt before the client
    #: checks ``/history`` itself (the silence watchdog).
    ws_silence_s: float = 10.0
    #: Seconds between ``/history`` polls while the WebSocket is down or silent.
    poll_interval_s: float = 1.0
    #: Seconds ``submit`` waits for a ComfyUI that refuses connections or answers
    #: 502/503/504 (still starting) before giving up with ComfyUIUnreachable.
    startup_wait_s: float = 60.0
    #: Seconds a running prompt tolerates its backend being unreachable before the run
    #: fails with ComfyUIUnreachable (a crashed ComfyUI never comes back in time).
    unreachable_grace_s: float = 10.0
    #: Seconds a freshly started stream waits for the WebSocket before submitting anyway.
    ws_connect_wait_s: float = 2.0
    #: Seconds between WebSocket pings; a dead TCP connection is noticed within 2x this.
    ws_heartbeat_s: float = 10.0
    #: Bytes per chunk when streaming ``/view`` downloads.
    download_chunk_bytes: int = 256 * 1024
    #: Interrupt/delete the prompt on ComfyUI when the run times out.
    cancel_on_timeout: bool = True

    @classmethod
    def from_timeout_ms(cls, timeout_ms: int, **overrides: Any) -> ClientConfig:
        """The gateway's ``COMFYUI_TIMEOUT_MS`` as ``run_timeout_s``."""
        return replace(cls(run_timeout_s=timeout_ms / 1000.0), **overrides)
