"""Honest ETAs: how long a job will wait and run, from what recent jobs measured.

    samples (finished jobs' execution times, per workflow and size)  -> ExecutionEstimator
    jobs ahead (queue order, fair share by owner) + running jobs      -> forecast over slots
    slots = backends that can take the job x MAX_CONCURRENCY

``EtaService`` ties them to the database; the pieces are pure and unit-tested.
"""

from comfyui_gateway.eta.estimator import ExecutionEstimator, Sample
from comfyui_gateway.eta.forecast import forecast
from comfyui_gateway.eta.service import EtaService, JobEta
from comfyui_gateway.eta.work import work_units

__all__ = ["EtaService", "ExecutionEstimator", "JobEta", "Sample", "forecast", "work_units"]
