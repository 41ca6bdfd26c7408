"""The overall progress estimate."""

from __future__ import annotations

from worker.comfyui.events import (
    ExecutionStarted,
    Finished,
    NodesCached,
    NodeStarted,
    NodeState,
    NodeStates,
    StepProgress,
)
from worker.comfyui.progress import ProgressTracker

GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {}},
    "3": {"class_type": "KSampler", "inputs": {"steps": 8}},
    "8": {"class_type": "VAEDecode", "inputs": {}},
}


def test_weights_follow_steps_and_never_go_back() -> None:
    tracker = ProgressTracker(GRAPH)
    assert tracker.update(ExecutionStarted(prompt_id="p")) == 1.0
    assert tracker.update(NodesCached(prompt_id="p", nodes=("4",))) == 8.3  # 1 of 12
    tracker.update(NodeStarted(prompt_id="p", node="5"))
    tracker.update(NodeStarted(prompt_id="p", node="3"))  # 5 done
    assert tracker.percent == 16.7
    assert tracker.update(StepProgress(prompt_id="p", node="3", value=4, max=8)) == 54.2
    assert tracker.update(StepProgress(prompt_id="p", node="3", value=2, max=8)) == 54.2
    tracker.update(NodeStates(prompt_id="p", nodes={"3": NodeState(8, 8, "finished")}))
    assert tracker.percent == 91.7
    tracker.update(NodeStates(prompt_id="p", nodes={"8": NodeState(1, 1, "finished")}))
    assert tracker.percent == 99.0  # capped until Finished
    assert tracker.update(Finished(prompt_id="p", outputs=())) == 100.0
    assert tracker.node_type("3") == "KSampler" and tracker.node_type("99") is None


def test_without_graph_the_sampler_fraction_counts() -> None:
    tracker = ProgressTracker()
    assert tracker.update(StepProgress(prompt_id="p", node="3", value=10, max=20)) == 50.0
    assert tracker.update(StepProgress(prompt_id="p", node="3", value=20, max=20)) == 95.0
