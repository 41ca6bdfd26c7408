"""Credentials as gRPC metadata: ``x-api-key`` or ``authorization: Bearer <JWT>``.

The gateway reads the same headers over REST (through Envoy) and gRPC; with auth off
on the server none is needed and none is sent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    """An API key or a JWT (HS256, signed by the gateway's ``JWT_SECRET``), or nothing.

    Usage: ``Credentials(api_key="k")`` or ``Credentials(token=jwt)``.
    """

    api_key: str = ""
    token: str = ""

    def __post_init__(self) -> None:
        if self.api_key and self.token:
            raise ValueError("give an API key or a token, not both")

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.api_key:
            return (("x-api-key", self.api_key),)
        if self.token:
            return (("authorization", f"Bearer {self.token}"),)
        return ()
