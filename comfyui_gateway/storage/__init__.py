"""Output storage: job outputs on a local disk or in an S3-compatible bucket.

base.py           Storage protocol, StoredObject, StagedObject, StorageError
names.py          job ids and stored names: validation, new_stored_name
content_types.py  content type from a file name, media-type validation
streams.py        chunk batching to threads (spool) and threaded reads (ChunkStream)
local.py          LocalStorage: <root>/<job_id>/<stored_name>, atomic renames
s3.py             S3Storage: key <job_id>/<stored_name> through the minio SDK
s3_client.py      minio client from the settings (endpoint, credentials, timeouts)
factory.py        create_storage(settings)

s3.py and s3_client.py load the minio SDK: import them from there (the package does not,
so a gateway on local storage never loads it).
"""

from comfyui_gateway.storage.base import (
    READ_CHUNK_BYTES,
    ByteStream,
    Storage,
    StorageError,
    StoredObject,
    UnsafeStoragePath,
)
from comfyui_gateway.storage.content_types import (
    OCTET_STREAM,
    content_type_for,
    validate_content_type,
)
from comfyui_gateway.storage.factory import create_storage
from comfyui_gateway.storage.local import LocalStorage
from comfyui_gateway.storage.names import (
    new_stored_name,
    object_key,
    validate_job_id,
    validate_stored_name,
)

__all__ = [
    "OCTET_STREAM",
    "READ_CHUNK_BYTES",
    "ByteStream",
    "LocalStorage",
    "Storage",
    "StorageError",
    "StoredObject",
    "UnsafeStoragePath",
    "content_type_for",
    "create_storage",
    "new_stored_name",
    "object_key",
    "validate_content_type",
    "validate_job_id",
    "validate_stored_name",
]
