"""Who a request is from, once its credentials have been checked."""

from __future__ import annotations

from dataclasses import dataclass

from comfyui_gateway.config import Role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``subject`` is what owns jobs, keys rate limits and appears in logs and the audit
    log: ``key:<8 hex of sha256(key)>`` for an API key (never the key itself), the
    token's ``sub`` for a JWT.
    """

    subject: str
    role: Role
    method: str
    """``api_key`` or ``jwt``: how the caller proved who it is."""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
