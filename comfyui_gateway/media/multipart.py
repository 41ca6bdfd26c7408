"""The ``file`` part of a ``multipart/form-data`` body (HTML forms, n8n, ``curl -F``).

The body is already in memory (Envoy buffers it, bounded by MAX_INPUT_BYTES), so the
standard library's MIME parser reads it; only the part named ``file`` is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from comfyui_gateway.media.references import MediaProblem

FILE_FIELD = "file"


@dataclass(frozen=True)
class FilePart:
    data: bytes
    content_type: str
    filename: str


def is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def file_part(body: bytes, content_type: str) -> FilePart:
    """The ``file`` field of a form; MediaProblem when the form has none."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise MediaProblem("is not a valid multipart/form-data body")
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        if part.get_param("name", header="content-disposition") != FILE_FIELD:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        explicit = "content-type" in part
        return FilePart(
            data=data,
            content_type=part.get_content_type() if explicit else "",
            filename=part.get_filename() or "",
        )
    raise MediaProblem(f"has no form field named {FILE_FIELD!r}")
