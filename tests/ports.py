"""Free TCP ports for the processes tests start, chosen outside the kernel's ephemeral range.

A port the kernel hands out for ``bind(0)`` comes from the same range it uses for
outgoing connections, so between our probe and the child's own bind an HTTP client or a
database pool may take it ("Address already in use" on a clean machine). Ports below the
ephemeral range are only ever taken by a listener, and the probe bind proves none holds
this one now.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

FLOOR = 10_000
_handed_out: set[int] = set()


def _ephemeral_floor() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return max(FLOOR + 1_000, low)


def free_port() -> int:
    """A port no socket is bound to now, not handed out before in this process."""
    ceiling = _ephemeral_floor()
    for _ in range(1_000):
        port = random.randrange(FLOOR, ceiling)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {FLOOR} and {ceiling}")
