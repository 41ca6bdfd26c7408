"""Which waiting job a backend runs next: priority, then fairness by owner, then model
affinity (see ``policy``). Pure: the queues (``comfyui_gateway.jobqueue``) hold the
entries and the residency records; this package only decides."""

from comfyui_gateway.scheduling.entry import QueueEntry
from comfyui_gateway.scheduling.models import job_models
from comfyui_gateway.scheduling.policy import Choice, SchedulerConfig, choose
from comfyui_gateway.scheduling.residency import Residency

__all__ = ["Choice", "QueueEntry", "Residency", "SchedulerConfig", "choose", "job_models"]
