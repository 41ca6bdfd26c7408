"""The client's address, for per-IP rate limits and audit rows.

Envoy (``use_remote_address: true``, ``xff_num_trusted_hops: 0``) appends the address
it saw to ``X-Forwarded-For``, so the *last* entry is the one no client can forge;
anything a client put in the header comes before it. The header is trusted only
from a loopback peer (Envoy runs beside the server, and the gRPC port binds to
127.0.0.1 by default); a remote gRPC client is known by its own peer address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

FORWARDED_FOR = "x-forwarded-for"


def peer_host(peer: str) -> str:
    """``ipv4:1.2.3.4:5678`` / ``ipv6:[::1]:5678`` -> ``1.2.3.4`` / ``::1``."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1:].partition("]")[0]
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return rest or peer or "unknown"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_address(peer: str, metadata: Mapping[str, str]) -> str:
    host = peer_host(peer)
    forwarded = metadata.get(FORWARDED_FOR, "")
    if forwarded and _is_loopback(host):
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return host
