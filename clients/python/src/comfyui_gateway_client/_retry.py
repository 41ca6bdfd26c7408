"""Retries with exponential backoff for calls the gateway says may succeed later.

Only ``UNAVAILABLE`` (gateway or ComfyUI unreachable) and ``RESOURCE_EXHAUSTED``
(rate limited) are retried, and not when the gateway's code says a retry cannot help
(``COMFYUI_OOM``, ``PAYLOAD_TOO_LARGE`` share that status). A rate-limited call waits
at least the ``retry-after`` the gateway sent; a quota or full-queue refusal whose
``retry-after`` is longer than ``max_delay_s`` is raised at once (a daily quota may
free only in hours). Job creation is safe to retry because
the client always sends ``metadata.requestId``: a repeat returns the original job.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc

from comfyui_gateway_client._errors import GatewayError, QueueFull, QuotaExceeded, RateLimited

RETRYABLE_STATUSES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
NEVER_RETRIED_CODES = frozenset({"COMFYUI_OOM", "PAYLOAD_TOO_LARGE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry; ``RetryPolicy(attempts=1)`` disables retries.

    Usage: ``GatewayClient(target, retry=RetryPolicy(attempts=6, max_delay_s=10))``.
    """

    attempts: int = 4
    """Tries in total, the first included."""
    initial_delay_s: float = 0.2
    """Wait before the second try; doubles (``multiplier``) after each failure."""
    max_delay_s: float = 5.0
    """Upper bound of one wait."""
    multiplier: float = 2.0

    def should_retry(self, error: GatewayError, attempt: int) -> bool:
        """True when ``error`` (from try number ``attempt``, 1-based) deserves another try."""
        if attempt >= self.attempts or error.status not in RETRYABLE_STATUSES:
            return False
        if isinstance(error, QuotaExceeded | QueueFull) and error.retry_after_s > self.max_delay_s:
            return False
        return error.code not in NEVER_RETRIED_CODES

    def delay_s(self, error: GatewayError, attempt: int) -> float:
        """Backoff with full jitter, never shorter than the server's ``retry-after``."""
        ceiling = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        if isinstance(error, RateLimited | QueueFull):
            delay = max(delay, error.retry_after_s)
        return delay
