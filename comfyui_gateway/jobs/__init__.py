"""Job domain shared by the server and the workers: states and priorities."""

from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import TERMINAL_STATUSES, JobStatus

__all__ = ["TERMINAL_STATUSES", "JobPriority", "JobStatus"]
