"""ComfyUI Gateway client: generated gRPC stubs (``comfyui_gateway_client.v1``) and a
small layer over them.

    from comfyui_gateway_client import GatewayClient
    with GatewayClient("localhost:50051", api_key="k") as gw:
        job = gw.generate("icon_512", {"prompt": "a fox"}, progress_bar=True)

The stubs are generated from the gateway's protos by ``make clients`` with their
imports moved under this package, so the client installs without the server.
"""

from comfyui_gateway_client._aio import AsyncGatewayClient
from comfyui_gateway_client._auth import Credentials
from comfyui_gateway_client._errors import (
    AuthFailed,
    Conflict,
    Forbidden,
    GatewayError,
    JobFailed,
    NotFound,
    QueueFull,
    QuotaExceeded,
    RateLimited,
    Unavailable,
    ValidationError,
)
from comfyui_gateway_client._progress import ProgressBar
from comfyui_gateway_client._retry import RetryPolicy
from comfyui_gateway_client._sync import GatewayClient

__version__ = "0.1.0"

__all__ = [
    "AsyncGatewayClient",
    "AuthFailed",
    "Conflict",
    "Credentials",
    "Forbidden",
    "GatewayClient",
    "GatewayError",
    "JobFailed",
    "NotFound",
    "ProgressBar",
    "QueueFull",
    "QuotaExceeded",
    "RateLimited",
    "RetryPolicy",
    "Unavailable",
    "ValidationError",
]
