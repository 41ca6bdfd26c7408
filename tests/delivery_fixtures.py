"""The ``gateway_core`` fixture (see ``tests.delivery_helpers.GatewayCore``).

Usage in a test module::

    pytest_plugins = ["tests.db_fixtures", "tests.delivery_fixtures"]
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_emulator import Emulator
from comfyui_gateway.db.queries.workflows import WorkflowRepository
from comfyui_gateway.eventbus import MemoryEventBus
from comfyui_gateway.jobqueue import InProcessJobQueue
from comfyui_gateway.jobs.submission import JobSubmitter, SubmissionOptions
from comfyui_gateway.storage.local import LocalStorage
from comfyui_gateway.workflows import load_bundled
from comfyui_gateway.workflows.inputs import InputLimits
from tests.delivery_helpers import CACHE_TTL_S, GatewayCore
from tests.emulator_helpers import FAST_CLIENT, emulator_config
from worker.comfyui import ComfyUIClient
from worker.runner import JobRunner, RunnerConfig


@pytest.fixture
async def gateway_core(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[GatewayCore]:
    async with sessions() as session, session.begin():
        repository = WorkflowRepository(session)
        for definition in load_bundled():
            await repository.create(
                workflow_id=definition.id,
                name=definition.name,
                workflow_json=definition.workflow_json,
                input_schema=definition.input_schema,
                default_params=definition.default_params,
            )
    storage = LocalStorage(tmp_path / "outputs")
    await storage.check()
    queue, bus = InProcessJobQueue(), MemoryEventBus()
    submitter = JobSubmitter(
        sessions,
        queue,
        InputLimits(2048, 4),
        options=SubmissionOptions(allowed_callback_domains=("*", "127.0.0.1", "localhost")),
    )
    async with (
        Emulator(emulator_config(base_dir=tmp_path / "comfyui")) as emulator,
        ComfyUIClient(emulator.base_url, FAST_CLIENT) as client,
    ):
        runner = JobRunner(
            sessions=sessions,
            client=client,
            storage=storage,
            bus=bus,
            queue=queue,
            config=RunnerConfig(worker_id="test-worker", cache_ttl_s=CACHE_TTL_S),
        )
        yield GatewayCore(sessions, emulator, client, storage, queue, bus, submitter, runner)
    await bus.close()
    await storage.close()
