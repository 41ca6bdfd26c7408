"""Authentication: API keys (constant-time) and HS256 JWTs, to a ``Principal``."""

from comfyui_gateway.auth.api_keys import ApiKeyRing, key_id
from comfyui_gateway.auth.authenticator import Authenticator
from comfyui_gateway.auth.jwt_tokens import JwtVerifier
from comfyui_gateway.auth.principal import Principal

__all__ = ["ApiKeyRing", "Authenticator", "JwtVerifier", "Principal", "key_id"]
