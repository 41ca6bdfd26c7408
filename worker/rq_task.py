"""The function RQ workers run: ``run_job(job_id)``.

RQ imports a task by dotted path and calls it with plain arguments, so the worker
process registers its ``JobExecutor`` here when it starts (``install``); this is the
one module-level handle in the project, forced by RQ's calling convention.
"""

from __future__ import annotations

from typing import Protocol


class JobExecutor(Protocol):
    def run_job(self, job_id: str) -> None: ...


_executor: JobExecutor | None = None


def install(executor: JobExecutor | None) -> None:
    global _executor
    _executor = executor


def run_job(job_id: str) -> None:
    if _executor is None:
        raise RuntimeError("no job executor installed: start workers with `comfyui-gateway worker`")
    _executor.run_job(job_id)
