"""ORM models, one module per table; importing this package registers them all."""

from comfyui_gateway.db.models.audit import AuditEntry
from comfyui_gateway.db.models.cache_entry import CacheEntry
from comfyui_gateway.db.models.idempotency import IdempotencyKey
from comfyui_gateway.db.models.job import Job
from comfyui_gateway.db.models.job_log import JobLog
from comfyui_gateway.db.models.job_output import JobOutput
from comfyui_gateway.db.models.media_input import InputFile, JobInput, Upload
from comfyui_gateway.db.models.webhook_delivery import WebhookDelivery
from comfyui_gateway.db.models.workflow import Workflow

__all__ = [
    "AuditEntry",
    "CacheEntry",
    "IdempotencyKey",
    "InputFile",
    "Job",
    "JobInput",
    "JobLog",
    "JobOutput",
    "Upload",
    "WebhookDelivery",
    "Workflow",
]
