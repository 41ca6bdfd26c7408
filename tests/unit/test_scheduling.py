"""The scheduling rule, pure: priority, then fairness by owner, then model affinity."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.scheduling import QueueEntry, SchedulerConfig, choose, job_models
from comfyui_gateway.scheduling.models import LOADER_INPUTS
from comfyui_gateway.scheduling.residency import Residency

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_000_000.0
ON = SchedulerConfig(affinity=True, max_wait_s=10.0)
OFF = SchedulerConfig(affinity=False)


def entry(
    job_id: str,
    *,
    owner: str = "a",
    models: Iterable[str] = ("x",),
    age: float = 0.0,
    priority: JobPriority = JobPriority.NORMAL,
) -> QueueEntry:
    return QueueEntry(job_id, priority, owner, tuple(models), NOW - age)


def pick(
    waiting: list[QueueEntry],
    *,
    here: Iterable[str] = (),
    elsewhere: Iterable[Iterable[str]] = (),
    served: dict[str, float] | None = None,
    config: SchedulerConfig = ON,
) -> str | None:
    choice = choose(
        waiting,
        here=frozenset(here),
        elsewhere=[frozenset(held) for held in elsewhere],
        served=served,
        now=NOW,
        config=config,
    )
    return choice.entry.job_id if choice.entry else None


def test_priority_beats_fairness_and_affinity() -> None:
    waiting = [
        entry("normal-fits", models=("x",), age=50),
        entry("high-cold", owner="b", models=("y",), priority=JobPriority.HIGH),
    ]
    assert pick(waiting, here={"x"}, served={"b": 5.0}) == "high-cold"


def test_oldest_first_within_an_owner_without_affinity() -> None:
    waiting = [entry("second", age=1), entry("first", age=2), entry("third", age=0)]
    assert pick(waiting, config=OFF) == "first"


def test_owners_take_turns_least_recently_served_first() -> None:
    backlog = [entry(f"a-{i}", owner="a", age=100 - i) for i in range(100)]
    newcomer = [entry(f"b-{i}", owner="b", age=1 - i * 0.1) for i in range(5)]
    served: dict[str, float] = {}
    order = []
    waiting = backlog + newcomer
    for turn in range(10):
        job_id = pick(waiting, here={"x"}, served=served)
        assert job_id is not None
        order.append(job_id)
        taken = next(e for e in waiting if e.job_id == job_id)
        waiting.remove(taken)
        served[taken.owner] = float(turn)
    assert order[:4] == ["a-0", "b-0", "a-1", "b-1"]
    assert order.index("b-0") <= 3


def test_an_owner_never_served_goes_before_one_served() -> None:
    waiting = [entry("a-old", owner="a", age=60), entry("b-new", owner="b", age=0)]
    assert pick(waiting, served={"a": 1.0}, config=OFF) == "b-new"


def test_affinity_prefers_a_job_whose_models_are_resident() -> None:
    waiting = [entry("x-job", models=("x",), age=5), entry("y-job", models=("y",), age=1)]
    assert pick(waiting, here={"y"}) == "y-job"
    assert pick(waiting, here={"y"}, config=OFF) == "x-job"


def test_a_job_held_elsewhere_is_left_to_that_backend_until_overdue() -> None:
    waiting = [entry("x-job", models=("x",), age=3)]
    choice = choose(
        waiting, here=frozenset({"y"}), elsewhere=[frozenset({"x"})], now=NOW, config=ON
    )
    assert choice.entry is None
    assert choice.retry_at == NOW - 3 + ON.max_wait_s
    overdue = [entry("x-job", models=("x",), age=11)]
    assert pick(overdue, here={"y"}, elsewhere=[{"x"}]) == "x-job"


def test_cold_jobs_are_taken_when_nothing_fits() -> None:
    waiting = [entry("x-job", models=("x",)), entry("z-job", models=("z",))]
    assert pick(waiting, here={"y"}, elsewhere=[{"x"}]) == "z-job"


def test_a_cold_job_past_the_wait_beats_jobs_that_fit() -> None:
    """No starving: a stream of jobs that fit every backend cannot hold a cold one back."""
    waiting = [entry("x-1", models=("x",), age=20), entry("z-job", models=("z",), age=12)]
    assert pick(waiting, here={"x"}, elsewhere=[{"x"}]) == "z-job"
    fresh = [entry("x-1", models=("x",), age=20), entry("z-job", models=("z",), age=2)]
    assert pick(fresh, here={"x"}, elsewhere=[{"x"}]) == "x-1"


def test_jobs_without_models_fit_anywhere() -> None:
    assert pick([entry("plain", models=())], here=set(), elsewhere=[{"x"}]) == "plain"


def test_partial_residency_is_not_a_fit() -> None:
    waiting = [entry("lora", models=("x", "l")), entry("plain", models=("x",))]
    assert pick(waiting, here={"x"}) == "plain"


def test_an_owner_whose_jobs_all_wait_elsewhere_lets_the_next_owner_run() -> None:
    waiting = [entry("a-x", owner="a", models=("x",)), entry("b-y", owner="b", models=("y",))]
    assert pick(waiting, here={"y"}, elsewhere=[{"x"}], served={"b": 2.0}) == "b-y"


def test_lower_priority_work_runs_while_higher_waits_for_its_backend() -> None:
    waiting = [
        entry("high-x", models=("x",), priority=JobPriority.HIGH),
        entry("low-y", models=("y",), priority=JobPriority.LOW),
    ]
    assert pick(waiting, here={"y"}, elsewhere=[{"x"}]) == "low-y"


def test_nothing_waiting_means_no_retry_time() -> None:
    choice = choose([], here=frozenset(), now=NOW, config=ON)
    assert choice.entry is None and choice.retry_at is None


def test_residency_keeps_the_last_jobs_models() -> None:
    residency = Residency().after(("x",), 1).after(("y", "l"), 1)
    assert residency.models == {"y", "l"}
    wider = Residency().after(("x",), 2).after(("y",), 2).after(("z",), 2)
    assert wider.models == {"y", "z"}
    assert Residency.from_json(wider.to_json()) == wider
    assert Residency.from_json(b"not json") == Residency()


def test_entry_round_trip_and_missing_facts() -> None:
    original = entry("j", owner="o", models=("x", "y"), priority=JobPriority.LOW)
    assert QueueEntry.from_json("j", original.to_json()) == original
    bare = QueueEntry.from_json("k", None)
    assert (bare.priority, bare.owner, bare.models) == (JobPriority.NORMAL, "", ())


def test_job_models_reads_every_loader_and_skips_links() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.ckpt"}},
        "2": {
            "class_type": "LoraLoader",
            "inputs": {"lora_name": "ink.safetensors", "model": ["1", 0]},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "vae.pt"}},
        "4": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x.pth"}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["2", 0], "ckpt_name": "not-a-loader"}},
        "6": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ["9", 0]}},
        "7": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.ckpt"}},
    }
    assert job_models(graph) == ("4x.pth", "ink.safetensors", "sd15.ckpt", "vae.pt")
    assert job_models({}) == ()


def test_every_loader_of_the_emulator_catalogue_is_known() -> None:
    """The emulator's node catalogue (ComfyUI's own definitions): each loader node's
    name input is the one ``job_models`` reads."""
    catalogue = json.loads((ROOT / "comfyui_emulator" / "catalogue.json").read_text())
    loaders = {name: node for name, node in catalogue.items() if name.endswith("Loader")}
    loaders |= {name: node for name, node in catalogue.items() if "LoaderModelOnly" in name}
    assert set(loaders) <= set(LOADER_INPUTS)
    for name, node in loaders.items():
        assert set(LOADER_INPUTS[name]) <= set(node["input"]["required"]), name


def test_an_idle_backend_shares_a_backlog_deeper_than_its_holders() -> None:
    """Two jobs for "x", one backend holding it: the second would wait a whole job there."""
    one = [entry("x-1", models=("x",))]
    assert pick(one, here=(), elsewhere=[{"x"}]) is None
    two = [entry("x-1", models=("x",), age=1), entry("x-2", models=("x",))]
    assert pick(two, here=(), elsewhere=[{"x"}]) == "x-1"
    assert pick(two, here=(), elsewhere=[{"x"}, {"x"}]) is None


def test_a_holder_with_several_slots_keeps_a_backlog_its_slots_cover() -> None:
    two = [entry("x-1", models=("x",), age=1), entry("x-2", models=("x",))]
    slots = SchedulerConfig(affinity=True, max_wait_s=10.0, backend_slots=2)
    assert pick(two, here=(), elsewhere=[{"x"}], config=slots) is None
    three = [*two, entry("x-3", models=("x",))]
    assert pick(three, here=(), elsewhere=[{"x"}], config=slots) == "x-1"
