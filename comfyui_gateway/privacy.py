"""Privacy mode: prompts never reach logs or the database in clear.

Two tools, both no-ops when ``PRIVACY_MODE`` is off:

- **Redaction** of free text in what is stored and shown (a job's ``inputs`` and
  ``params``, log lines): every string value is replaced by
  ``[redacted sha256:<first 12 hex>]`` unless its schema field restricts it to an
  ``enum`` (a sampler name is not free text). The short hash lets a user match a
  redacted value against the prompt they sent without the gateway keeping it.
- **Encryption** of the rendered graph (``jobs.prompt_graph``), the one place the
  prompt must survive until a worker submits it to ComfyUI: Fernet (AES-128-CBC +
  HMAC-SHA256) with a key derived by HKDF-SHA256 from ``PRIVACY_KEY`` (else
  ``JWT_SECRET``, else ``WEBHOOK_SECRET``, else a random per-process secret in
  embedded mode; see ``Settings.privacy_key_material``). The worker decrypts just
  before ``POST /prompt``. Sealed text starts with ``fernet:``, so graphs stored
  before privacy mode was turned on still open.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from comfyui_gateway.config import Settings
from comfyui_gateway.errors import GatewayError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

SEALED_PREFIX = "fernet:"
HKDF_INFO = b"comfyui-gateway/privacy/prompt-graph/v1"


def redact_text(value: str) -> str:
    """The stored stand-in for a free-text value."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return f"[redacted sha256:{digest}]"


def _derive_key(material: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        material.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


class Privacy:
    """Redacts and seals when enabled; passes values through otherwise::

    privacy = Privacy.from_settings(settings)
    stored = privacy.redact_inputs(inputs, workflow.input_schema)
    sealed = privacy.seal_graph(graph_json)   # worker: privacy.open_graph(sealed)
    """

    def __init__(self, enabled: bool, key_material: str = "") -> None:
        if enabled and not key_material:
            raise ValueError("privacy mode needs key material")
        self.enabled = enabled
        self._key_material = key_material
        self._cipher: Fernet | None = None
        if enabled:
            self._cipher = self._fernet  # a key problem shows at start-up

    @property
    def _fernet(self) -> Fernet | None:
        """The cipher, made on first use: a process with privacy mode off loads the
        cryptography package (~7 MB) only if it meets a graph sealed earlier."""
        if self._cipher is None and self._key_material:
            from cryptography.fernet import Fernet

            self._cipher = Fernet(_derive_key(self._key_material))
        return self._cipher

    @classmethod
    def from_settings(cls, settings: Settings) -> Privacy:
        return cls(settings.PRIVACY_MODE, settings.privacy_key_material)

    def redact_inputs(
        self, values: Mapping[str, Any], input_schema: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``values`` with every free-text value redacted (see the module docstring)."""
        if not self.enabled:
            return dict(values)
        fields = (input_schema or {}).get("fields") or {}
        redacted: dict[str, Any] = {}
        for name, value in values.items():
            spec = fields.get(name) if isinstance(fields, Mapping) else None
            if isinstance(spec, Mapping) and spec.get("enum") and isinstance(value, str):
                redacted[name] = value if value in spec["enum"] else redact_text(value)
            else:
                redacted[name] = self.redact_value(value)
        return redacted

    def redact_value(self, value: Any) -> Any:
        """Any JSON value with its strings redacted, at any depth."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return redact_text(value)
        if isinstance(value, Mapping):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(item) for item in value]
        return value

    def seal_graph(self, graph_json: str) -> str:
        """What to store as ``prompt_graph``: the graph, encrypted in privacy mode."""
        fernet = self._fernet if self.enabled else None
        if fernet is None:
            return graph_json
        return SEALED_PREFIX + fernet.encrypt(graph_json.encode("utf-8")).decode("ascii")

    def open_graph(self, stored: str) -> str:
        """The graph JSON back from ``prompt_graph``; raises GatewayError if the key is wrong."""
        if not stored.startswith(SEALED_PREFIX):
            return stored
        from cryptography.fernet import InvalidToken

        fernet = self._fernet
        if fernet is None:
            raise GatewayError("The job's graph is encrypted and PRIVACY_MODE has no key here")
        try:
            token = stored[len(SEALED_PREFIX) :].encode("ascii")
            return fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise GatewayError(
                "The job's graph cannot be decrypted: PRIVACY_KEY differs from the one "
                "it was stored with"
            ) from None
