"""A lagging watcher gets the latest progress step, never fewer milestones."""

from __future__ import annotations

from comfyui_gateway.events import EventType, JobEvent
from comfyui_gateway.jobs.watch import conflate


def step(node: str, value: int) -> JobEvent:
    return JobEvent(
        type=EventType.PROGRESS,
        job_id="j",
        status="running",
        node=node,
        step=value,
        max_steps=9,
        timestamp=1.0,
    )


def test_consecutive_steps_of_one_node_collapse_to_the_latest() -> None:
    events = [step("3", 1), step("3", 2), step("3", 3)]
    assert conflate(events) == [step("3", 3)]


def test_other_events_and_other_nodes_are_kept_in_order() -> None:
    node = JobEvent(type=EventType.NODE, job_id="j", status="running", node="8")
    terminal = JobEvent(type=EventType.TERMINAL, job_id="j", status="succeeded")
    events = [step("3", 1), step("3", 2), node, step("8", 1), step("9", 1), terminal]
    assert conflate(events) == [step("3", 2), node, step("8", 1), step("9", 1), terminal]


def test_a_single_event_passes_untouched() -> None:
    assert conflate([step("3", 1)]) == [step("3", 1)]


def preview(step_value: int) -> JobEvent:
    frame = {"contentType": "image/jpeg", "data": f"frame{step_value}", "width": 8, "height": 8}
    return JobEvent(
        type=EventType.PREVIEW,
        job_id="j",
        status="running",
        node="3",
        step=step_value,
        preview=frame,
        timestamp=1.0,
    )


def test_a_lagging_watcher_gets_only_the_latest_preview_frame() -> None:
    events = [preview(1), step("3", 1), preview(2), step("3", 2), preview(3), step("3", 3)]
    assert conflate(events) == [step("3", 3), preview(3)]


def test_preview_events_survive_the_bus_json() -> None:
    assert JobEvent.from_json(preview(4).to_json()) == preview(4)
