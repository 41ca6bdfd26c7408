"""API keys from ``API_KEYS``: constant-time matching and stable, secret-free ids."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from comfyui_gateway.auth.principal import Principal
from comfyui_gateway.config import Role

KEY_ID_PREFIX = "key:"


def key_id(key: str) -> str:
    """The subject of a key's caller: a short hash, so owners and logs never hold the key."""
    return KEY_ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


class ApiKeyRing:
    """The configured keys. ``match`` compares the presented key with *every* configured
    key using ``hmac.compare_digest`` and never stops early, so the time taken says
    nothing about which key, or how much of one, was right::

        ring = ApiKeyRing({"sk-admin": Role.ADMIN})
        ring.match("sk-admin")  # Principal(subject="key:…", role=admin, method="api_key")
    """

    def __init__(self, keys: Mapping[str, Role]) -> None:
        self._keys = [(key.encode("utf-8"), Role(role)) for key, role in keys.items()]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def match(self, presented: str) -> Principal | None:
        candidate = presented.encode("utf-8")
        found: Role | None = None
        for key, role in self._keys:
            if hmac.compare_digest(candidate, key) and found is None:
                found = role
        if found is None:
            return None
        return Principal(subject=key_id(presented), role=found, method="api_key")
