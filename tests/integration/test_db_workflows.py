"""Workflow repository, audit log and admin operations on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfyui_gateway.db import AuditLog, WorkflowRepository
from comfyui_gateway.db.models import Workflow
from comfyui_gateway.errors import Conflict, ValidationError, WorkflowNotFound
from comfyui_gateway.workflows import WorkflowDefinition, load_bundled, validate_definition
from comfyui_gateway.workflows.admin import WorkflowAdmin
from comfyui_gateway.workflows.recent import RecentWorkflows

pytest_plugins = ["tests.db_fixtures"]

Sessions = async_sessionmaker[AsyncSession]

GRAPH: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
}
SCHEMA: dict[str, Any] = {"type": "object", "fields": {"prompt": {"type": "string"}}}


async def _create(sessions: Sessions, workflow_id: str, name: str = "W") -> Workflow:
    async with sessions() as session, session.begin():
        return await WorkflowRepository(session).create(
            workflow_id=workflow_id,
            name=name,
            workflow_json=GRAPH,
            input_schema=SCHEMA,
            default_params={},
        )


async def test_create_get_list(sessions: Sessions) -> None:
    for workflow_id in ("b", "a", "c"):
        await _create(sessions, workflow_id)
    async with sessions() as session:
        repo = WorkflowRepository(session)
        assert [w.id for w in await repo.list()] == ["a", "b", "c"]
        got = await repo.get("b")
    assert got.workflow_json == GRAPH and got.input_schema == SCHEMA
    assert got.version == 1 and got.description == ""
    assert got.created_at.tzinfo is not None


async def test_get_missing_raises_workflow_not_found(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(WorkflowNotFound, match="nope"):
            await WorkflowRepository(session).get("nope")


async def test_create_duplicate_is_conflict(sessions: Sessions) -> None:
    await _create(sessions, "dup")
    with pytest.raises(Conflict, match="already exists"):
        await _create(sessions, "dup")


async def test_create_race_is_conflict(sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    """The existence check can miss a concurrent insert; the primary key still wins."""
    await _create(sessions, "raced")

    async def never_found(self: WorkflowRepository, workflow_id: str) -> None:
        return None

    monkeypatch.setattr(WorkflowRepository, "find", never_found)
    with pytest.raises(Conflict, match="already exists"):
        await _create(sessions, "raced")


async def test_concurrent_creates_one_wins(sessions: Sessions) -> None:
    results = await asyncio.gather(
        *(_create(sessions, "same", name=f"n{i}") for i in range(4)), return_exceptions=True
    )
    assert sum(isinstance(r, Workflow) for r in results) == 1
    assert all(isinstance(r, Workflow | Conflict) for r in results)


async def test_partial_update_bumps_version(sessions: Sessions) -> None:
    await _create(sessions, "u")
    async with sessions() as session, session.begin():
        updated = await WorkflowRepository(session).update("u", {"description": "new"})
    assert updated.version == 2 and updated.description == "new" and updated.name == "W"
    assert updated.updated_at >= updated.created_at


async def test_update_with_stale_version_is_conflict(sessions: Sessions) -> None:
    await _create(sessions, "v")
    async with sessions() as session, session.begin():
        with pytest.raises(Conflict, match="expected 7"):
            await WorkflowRepository(session).update("v", {"name": "x"}, expected_version=7)


async def test_concurrent_updates_lose_cleanly(sessions: Sessions) -> None:
    await _create(sessions, "cc")
    async with sessions() as first, sessions() as second:
        wf_first = await WorkflowRepository(first).get("cc")
        # Held, so the second session keeps working on its stale copy (version 1).
        wf_second = await WorkflowRepository(second).get("cc")
        wf_first.name = "first"
        await first.commit()
        assert wf_second.version == 1
        with pytest.raises(Conflict):
            await WorkflowRepository(second).update("cc", {"name": "second"})
        await second.rollback()
    async with sessions() as session:
        assert (await WorkflowRepository(session).get("cc")).name == "first"


async def test_update_rejects_unknown_fields(sessions: Sessions) -> None:
    await _create(sessions, "f")
    async with sessions() as session:
        with pytest.raises(ValidationError) as info:
            await WorkflowRepository(session).update("f", {"id": "g", "version": 3})
    assert [d["field"] for d in info.value.details] == ["id", "version"]


async def test_delete(sessions: Sessions) -> None:
    await _create(sessions, "d")
    async with sessions() as session, session.begin():
        await WorkflowRepository(session).delete("d")
    async with sessions() as session:
        assert await WorkflowRepository(session).find("d") is None
        with pytest.raises(WorkflowNotFound):
            await WorkflowRepository(session).delete("d")


async def test_audit_record_and_recent(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await AuditLog.record(session, "key:ops", "workflow.delete", "x", "success", {"a": 1})
        await AuditLog.record(session, "key:ops", "workflow.create", "y", "failure")
    async with sessions() as session:
        entries = await AuditLog.recent(session)
        only_x = await AuditLog.recent(session, target="x")
    assert [(e.action, e.target) for e in entries] == [
        ("workflow.create", "y"),
        ("workflow.delete", "x"),
    ]
    assert [e.details for e in only_x] == [{"a": 1}]
    assert entries[0].timestamp.tzinfo is not None


async def test_admin_create_update_delete_is_audited(sessions: Sessions) -> None:
    admin = WorkflowAdmin(sessions)
    definition = WorkflowDefinition(
        id="custom", name=" Custom ", workflow_json=GRAPH, input_schema=SCHEMA
    )
    created = await admin.create(definition, actor="key:ops")
    assert created.name == "Custom"
    with pytest.raises(Conflict):
        await admin.create(definition, actor="key:ops")
    updated = await admin.update(
        "custom", {"default_params": {"prompt": "hello"}}, actor="key:ops", expected_version=1
    )
    assert updated.default_params == {"prompt": "hello"} and updated.version == 2
    with pytest.raises(ValidationError) as info:
        # A schema without 'prompt' would orphan the graph's {{prompt}} token.
        await admin.update(
            "custom",
            {"input_schema": {"fields": {}}, "default_params": {}},
            actor="key:ops",
        )
    assert any("{{prompt}}" in d["message"] for d in info.value.details)
    await admin.delete("custom", actor="key:ops")
    with pytest.raises(WorkflowNotFound):
        await admin.delete("custom", actor="key:ops")
    async with sessions() as session:
        trail = [
            (e.action, e.outcome, (e.details or {}).get("error"))
            for e in reversed(await AuditLog.recent(session, target="custom"))
        ]
    assert trail == [
        ("workflow.create", "success", None),
        ("workflow.create", "failure", "CONFLICT"),
        ("workflow.update", "success", None),
        ("workflow.update", "failure", "VALIDATION_ERROR"),
        ("workflow.delete", "success", None),
        ("workflow.delete", "failure", "WORKFLOW_NOT_FOUND"),
    ]


async def test_admin_normalises_struct_numbers(sessions: Sessions) -> None:
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "t", "clip": ["4", 1.0]}},
    }
    created = await WorkflowAdmin(sessions).create(
        WorkflowDefinition(id="floats", name="F", workflow_json=graph), actor="a"
    )
    assert created.workflow_json["6"]["inputs"]["clip"] == ["4", 1]
    assert isinstance(created.workflow_json["6"]["inputs"]["clip"][1], int)


async def test_bundled_workflows_register_and_round_trip(sessions: Sessions) -> None:
    admin = WorkflowAdmin(sessions)
    for definition in load_bundled():
        await admin.create(definition, actor="init")
    async with sessions() as session:
        stored = {w.id: w for w in await WorkflowRepository(session).list()}
    assert sorted(stored) == sorted(definition.id for definition in load_bundled())
    assert {"img2img_v1", "inpaint_v1", "upscale_v1", "upscale_model_v1"} <= set(stored)
    for definition in load_bundled():
        checked = validate_definition(definition)
        assert stored[definition.id].workflow_json == checked.workflow_json
        assert stored[definition.id].input_schema == checked.input_schema


async def test_recent_workflows_reuse_within_ttl_and_forget_on_admin_change(
    sessions: Sessions,
) -> None:
    """Submissions reuse a row briefly; a change through the admin is seen at once, a
    change behind its back (another replica, the CLI) once the TTL has passed."""
    now = [0.0]
    recent = RecentWorkflows(ttl_s=1.0, clock=lambda: now[0])
    admin = WorkflowAdmin(sessions, recent=recent)
    with pytest.raises(WorkflowNotFound):
        async with sessions() as session:
            await recent.get(session, "r")
    await _create(sessions, "r", name="first")  # a miss was not remembered
    async with sessions() as session:
        assert (await recent.get(session, "r")).name == "first"
    await admin.update("r", {"name": "second"}, actor="key:ops")
    async with sessions() as session:
        assert (await recent.get(session, "r")).name == "second"
    await WorkflowAdmin(sessions).update("r", {"name": "third"}, actor="key:cli")
    async with sessions() as session:
        assert (await recent.get(session, "r")).name == "second"
        now[0] = 1.0
        assert (await recent.get(session, "r")).name == "third"
    await admin.delete("r", actor="key:ops")
    with pytest.raises(WorkflowNotFound):
        async with sessions() as session:
            await recent.get(session, "r")


async def test_a_remembered_row_outlives_a_rollback_of_the_session_that_read_it(
    sessions: Sessions,
) -> None:
    """A submission that loses an idempotency race rolls its session back; the row it
    read and remembered must stay readable for the submissions that reuse it."""
    recent = RecentWorkflows(ttl_s=60.0)
    await _create(sessions, "r", name="first")
    async with sessions() as session:
        read = await recent.get(session, "r")
        await session.rollback()
    async with sessions() as session:
        reused = await recent.get(session, "r")
    assert reused is read
    assert (reused.name, reused.workflow_json, reused.input_schema) == ("first", GRAPH, SCHEMA)
