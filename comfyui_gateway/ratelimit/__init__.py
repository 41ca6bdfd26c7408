"""Rate limiting shared across replicas (Redis) or in-process (embedded mode)."""

from comfyui_gateway.ratelimit.base import RateDecision, RateLimiter
from comfyui_gateway.ratelimit.memory import MemoryRateLimiter
from comfyui_gateway.ratelimit.redis import RedisRateLimiter

__all__ = ["MemoryRateLimiter", "RateDecision", "RateLimiter", "RedisRateLimiter"]
