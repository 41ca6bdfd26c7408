"""Where accepted job ids wait for a worker: RQ on Redis, or in-process when embedded.

The database row is the job; a queue entry is only a pointer to it, so losing one
(Redis flushed) loses nothing — the reconciler puts it back.
"""

from comfyui_gateway.jobqueue.base import JobQueue
from comfyui_gateway.jobqueue.memory import InProcessJobQueue
from comfyui_gateway.jobqueue.rq_queue import RQJobQueue

__all__ = ["InProcessJobQueue", "JobQueue", "RQJobQueue"]
