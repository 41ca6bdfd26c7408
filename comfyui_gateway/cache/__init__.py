"""Result cache: keys here; storage of entries is the ``cache_entries`` table."""

from comfyui_gateway.cache.keys import (
    cache_key,
    canonical_json,
    checkpoint_names,
    inputs_digest,
    is_cacheable,
)

__all__ = ["cache_key", "canonical_json", "checkpoint_names", "inputs_digest", "is_cacheable"]
