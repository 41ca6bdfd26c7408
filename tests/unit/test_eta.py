"""The execution-time estimator, the forecast over slots and the fair-share position."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from comfyui_gateway.db.models.job import Job
from comfyui_gateway.eta import ExecutionEstimator, Sample, forecast, work_units
from comfyui_gateway.eta.estimator import DEFAULT_EXECUTION_S
from comfyui_gateway.eta.forecast import forecast_runs
from comfyui_gateway.eta.service import _Queued, fair_share_ahead
from comfyui_gateway.jobs.priority import JobPriority
from comfyui_gateway.jobs.status import JobStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_work_units_scale_with_pixels_steps_and_batch() -> None:
    assert work_units({}) == 1.0
    assert work_units({"width": 1024, "height": 512, "steps": 10, "batch_size": 2}) == 40.0
    assert work_units({"width": 512, "steps": "20", "cfg": 7}) == 1.0  # no pair, no number


def test_estimator_fits_a_fixed_cost_plus_a_per_unit_cost() -> None:
    samples = [Sample("wf", w, 0.5 + 0.1 * w) for w in (10, 20, 40, 10, 20)]
    estimator = ExecutionEstimator(samples)
    assert estimator.seconds("wf", 30) == pytest.approx(3.5)
    # An unknown workflow borrows the median seconds per unit of all samples.
    assert estimator.seconds("other", 10) == pytest.approx(1.25)


def test_estimator_with_one_size_scales_the_median_and_ignores_an_outlier() -> None:
    samples = [Sample("wf", 20, s) for s in (2.0, 2.1, 1.9, 30.0)]  # one paid a model load
    estimator = ExecutionEstimator(samples)
    assert estimator.seconds("wf", 20) == pytest.approx(2.05)
    assert estimator.seconds("wf", 40) == pytest.approx(4.1)


def test_estimator_without_history_says_its_default() -> None:
    estimator = ExecutionEstimator([])
    assert not estimator.measured
    assert estimator.seconds("wf", 1) == DEFAULT_EXECUTION_S


def test_forecast_list_schedules_over_the_slots() -> None:
    # One slot, a running job with 1 s left, two jobs of 2 s ahead: start at 5, end at 7.
    assert forecast([1.0], [2.0, 2.0], 2.0, slots=1) == (5.0, 7.0)
    # Two slots: the jobs ahead split; ours takes the slot that frees first.
    assert forecast([1.0], [2.0, 2.0], 2.0, slots=2) == (2.0, 4.0)
    assert forecast([], [], 3.0, slots=4) == (0.0, 3.0)


def _one_at_a_time(running: list[float], ahead: list[float], own: float, slots: int) -> float:
    """The plain list schedule, job by job: what ``forecast`` must agree with."""
    free = sorted(max(0.0, r) for r in running)[:slots]
    free += [0.0] * (slots - len(free))
    for seconds in ahead:
        free.sort()
        free[0] += max(0.0, seconds)
    return min(free) + own


def test_forecast_places_runs_of_equal_jobs_as_one_at_a_time_would() -> None:
    draw = random.Random(13)
    for _ in range(500):
        slots = draw.randint(1, 6)
        running = [draw.uniform(0, 30) for _ in range(draw.randint(0, 8))]
        ahead: list[float] = []
        for _ in range(draw.randint(0, 6)):  # runs of one estimate, as a backlog is
            ahead += [draw.choice([0.0, 0.5, 2.0, draw.uniform(0, 10)])] * draw.randint(1, 40)
        start, finish = forecast(running, ahead, 3.0, slots)
        assert math.isclose(finish, _one_at_a_time(running, ahead, 3.0, slots), abs_tol=1e-6)
        assert math.isclose(finish - start, 3.0)


def test_forecast_of_runs_is_the_forecast_of_the_jobs_they_stand_for() -> None:
    draw = random.Random(7)
    for _ in range(300):
        slots = draw.randint(1, 5)
        running = [draw.uniform(0, 20) for _ in range(draw.randint(0, 6))]
        runs = [
            (draw.choice([0.0, 1.0, draw.uniform(0, 8)]), draw.randint(0, 30))
            for _ in range(draw.randint(0, 5))
        ]
        jobs = [seconds for seconds, count in runs for _ in range(count)]
        assert forecast_runs(running, runs, 2.0, slots) == pytest.approx(
            forecast(running, jobs, 2.0, slots)
        )


def test_forecast_behind_a_long_backlog_is_a_few_rounds() -> None:
    # 100,000 jobs of 2 s on 4 free slots: 25,000 rounds of 2 s, then ours.
    assert forecast([], [2.0] * 100_000, 1.0, slots=4) == (50_000.0, 50_001.0)


def _job(id_: str, owner: str, minute: int, priority: JobPriority = JobPriority.NORMAL) -> Job:
    return Job(
        id=id_,
        owner=owner,
        priority=priority,
        status=JobStatus.QUEUED,
        created_at=T0 + timedelta(minutes=minute),
        workflow_id="wf",
        inputs={},
    )


def _queued(job: Job) -> _Queued:
    return _Queued(job.id, job.owner, job.priority, job.created_at, 2.0)


def test_fair_share_position_takes_owners_in_rounds() -> None:
    backlog = [_job(f"a{n}", "A", n) for n in range(100)]
    high = _job("h", "C", 200, JobPriority.HIGH)
    low = _job("l", "C", 0, JobPriority.LOW)
    queued = [_queued(j) for j in [*backlog, high, low]]
    b_first, b_second = _job("b1", "B", 150), _job("b2", "B", 151)
    # B's first job: round 1, after A's round-1 job (earlier) and the high one.
    ahead = fair_share_ahead([*queued, _queued(b_second)], b_first)
    assert sorted(q.id for q in ahead) == ["a0", "h"]
    # B's second: round 2 — A's first two, B's first, the high one.
    ahead = fair_share_ahead([*queued, _queued(b_first)], b_second)
    assert sorted(q.id for q in ahead) == ["a0", "a1", "b1", "h"]
    # A's 50th job waits for A's 49 earlier ones, both of B's and the high one.
    ahead = fair_share_ahead([*queued, _queued(b_first), _queued(b_second)], backlog[49])
    assert len(ahead) == 49 + 2 + 1


def test_the_fast_way_for_the_newest_job_agrees_with_the_full_ranking() -> None:
    import random

    from comfyui_gateway.eta.service import _QueueState

    rng = random.Random(7)
    owners, priorities = ["A", "B", "C"], list(JobPriority)
    jobs = [_job(f"j{n}", rng.choice(owners), n, rng.choice(priorities)) for n in range(60)]
    queued = [
        _Queued(j.id, j.owner, j.priority, j.created_at, float(n)) for n, j in enumerate(jobs)
    ]
    state = _QueueState(queued, [], T0, {})
    for owner in owners:
        for priority in priorities:
            newest = _job("new", owner, 100, priority)
            full = sorted(q.seconds for q in fair_share_ahead(queued, newest))
            assert sorted(state.ahead_seconds(newest)) == full, (owner, priority)
