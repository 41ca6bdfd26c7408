"""Building the minio client from the settings: endpoint, credentials, timeouts.

``S3_ENDPOINT`` is a URL (``http://minio:9000``): its scheme decides TLS, so a plain
host name means HTTPS (secure unless told otherwise). Empty means AWS
(``s3.amazonaws.com``), where minio derives the regional host from ``S3_REGION``.
Credentials are the static ``S3_ACCESS_KEY``/``S3_SECRET_KEY`` pair; on AWS with
neither set, the standard AWS environment variables and the instance/task role are
tried, the way other AWS tools behave.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.credentials.providers import (
    ChainedProvider,
    EnvAWSProvider,
    IamAwsProvider,
    Provider,
)

from comfyui_gateway.config import Settings
from comfyui_gateway.storage.base import StorageError

AWS_HOST = "s3.amazonaws.com"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
"""Longest wait for the next bytes of a response; uploads of big parts stay under it."""
RETRIES = 3
"""urllib3 retries for connection errors and 5xx answers, with a short backoff."""


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where the S3 API answers: ``host[:port]`` and whether to speak TLS."""

    host: str
    secure: bool


def parse_endpoint(endpoint: str) -> S3Endpoint:
    """``http://minio:9000`` → ``S3Endpoint("minio:9000", secure=False)``; empty → AWS.

    Raises StorageError naming ``S3_ENDPOINT`` for anything minio would misread: other
    schemes, a path, credentials in the URL, a bad port.
    """
    value = endpoint.strip()
    if not value:
        return S3Endpoint(AWS_HOST, secure=True)
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    problem = ""
    if parts.scheme not in ("http", "https"):
        problem = "scheme must be http or https"
    elif not parts.hostname:
        problem = "host is missing"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "must not have a path (the bucket is S3_BUCKET)"
    elif parts.username or parts.password:
        problem = "must not carry credentials (use S3_ACCESS_KEY/S3_SECRET_KEY)"
    else:
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            problem = "port must be a number between 0 and 65535"
    if problem:
        raise StorageError(f"S3_ENDPOINT: {problem} (got {endpoint!r})")
    return S3Endpoint(parts.netloc, secure=parts.scheme == "https")


def _credentials(settings: Settings, endpoint: S3Endpoint) -> Provider | None:
    """Extra credential sources when no static keys are set; None means none needed."""
    if settings.S3_ACCESS_KEY or settings.S3_SECRET_KEY:
        if not (settings.S3_ACCESS_KEY and settings.S3_SECRET_KEY):
            raise StorageError("S3_ACCESS_KEY and S3_SECRET_KEY must be set together")
        return None
    if endpoint.host == AWS_HOST:
        return ChainedProvider([EnvAWSProvider(), IamAwsProvider()])
    return None  # anonymous: a public or policy-open bucket on a private S3 server


def http_pool(endpoint: S3Endpoint) -> urllib3.PoolManager:
    """minio's default pool waits five minutes per connect; fail faster than that."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        # Same trust store choice as minio: SSL_CERT_FILE when the operator sets it.
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=RETRIES, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
        ),
    )


def minio_client(settings: Settings, http: urllib3.PoolManager | None = None) -> Minio:
    """A minio client for ``settings``; ``http`` is the pool it uses (owned by the caller)."""
    endpoint = parse_endpoint(settings.S3_ENDPOINT)
    return Minio(
        endpoint.host,
        access_key=settings.S3_ACCESS_KEY or None,
        secret_key=settings.S3_SECRET_KEY or None,
        secure=endpoint.secure,
        region=settings.S3_REGION or None,
        http_client=http or http_pool(endpoint),
        credentials=_credentials(settings, endpoint),
    )
