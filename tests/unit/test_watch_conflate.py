"""A lagging watcher gets the job's latest state: every status change and the terminal
event, the latest step, node and frame, and outputs through the terminal that lists them."""

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


def node(name: str) -> JobEvent:
    return JobEvent(type=EventType.NODE, job_id="j", status="running", node=name, timestamp=1.0)


def terminal(status: str, outputs: int = 0) -> JobEvent:
    listed = [{"outputId": f"o{i}"} for i in range(outputs)]
    return JobEvent(
        type=EventType.TERMINAL, job_id="j", status=status, outputs=listed, timestamp=1.0
    )


def output(name: str) -> JobEvent:
    return JobEvent(
        type=EventType.OUTPUT, job_id="j", status="running", message=f"Stored {name}", timestamp=1.0
    )


def status(value: str, position: int = 0) -> JobEvent:
    return JobEvent(
        type=EventType.STATUS, job_id="j", status=value, queue_position=position, timestamp=1.0
    )


def test_a_later_node_supersedes_earlier_nodes_and_their_steps() -> None:
    events = [node("3"), step("3", 1), step("3", 2), node("8"), step("8", 1), step("9", 1)]
    assert conflate(events) == [node("8"), step("8", 1), step("9", 1)]


def test_steps_of_other_nodes_are_kept_in_order() -> None:
    events = [step("3", 1), step("8", 1), step("3", 2)]
    assert conflate(events) == [step("8", 1), step("3", 2)]


def test_a_succeeded_terminal_event_stands_for_the_outputs_it_lists() -> None:
    events = [node("9"), step("9", 1), output("a.png"), output("b.png"), terminal("succeeded", 2)]
    assert conflate(events) == [terminal("succeeded", 2)]


def test_outputs_before_a_failed_or_cancelled_end_are_kept() -> None:
    for end in ("failed", "cancelled"):
        events = [node("9"), output("a.png"), terminal(end)]
        assert conflate(events) == [output("a.png"), terminal(end)]


def test_status_changes_are_never_dropped() -> None:
    events = [status("queued", 2), status("queued", 1), status("running"), node("3"), node("4")]
    assert conflate(events) == [
        status("queued", 2),
        status("queued", 1),
        status("running"),
        node("4"),
    ]


def test_a_batch_of_milestones_that_supersede_nothing_passes_whole() -> None:
    events = [status("running"), node("3"), step("3", 1), output("a.png"), status("queued")]
    assert conflate(events) == events


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
    assert conflate(events) == [preview(3), step("3", 3)]


def test_the_terminal_event_supersedes_preview_frames() -> None:
    assert conflate([preview(1), step("3", 1), terminal("succeeded")]) == [terminal("succeeded")]


def test_preview_events_survive_the_bus_json() -> None:
    assert JobEvent.from_json(preview(4).to_json()) == preview(4)
