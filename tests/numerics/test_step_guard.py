"""The time guard of one training run (``wpgd.numerics.nn.step_timing.require_run``): the flop model
first, a measurement only where the flop model refuses, the measurement deciding."""

import numpy as np
import pytest

from wpgd.numerics.core.errors import ResourceLimitError
from wpgd.numerics.core.limits import TRAINING_RUN_SECONDS, time_limit, training_seconds
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.nn.step_timing import MEASURE_UP_TO, StepTiming, require_run, run_seconds
from wpgd.numerics.nn.train_config import TrainConfig


@pytest.fixture
def run():
    pr = Problem.segmented(np.eye(3), [4, 4], [0.3, 0.8], noise=0.1)
    cfg = TrainConfig.for_model("scalar", progress=False).resolved(pr)
    return pr, cfg


def _measure(step):
    calls = []

    def measure(problem, config):
        calls.append(config.steps)
        return StepTiming(step=step, forward=step / 3, batch=config.batch_size)

    return measure, calls


def test_training_run_default_limit_is_four_hours(monkeypatch):
    monkeypatch.delenv("WPGD_MAX_SECONDS", raising=False)
    assert time_limit(TRAINING_RUN_SECONDS) == 4 * 3600 and time_limit() == 3600
    monkeypatch.setenv("WPGD_MAX_SECONDS", "17")
    assert time_limit(TRAINING_RUN_SECONDS) == 17.0


def test_a_run_the_flop_model_passes_is_not_timed(run, monkeypatch):
    pr, cfg = run
    monkeypatch.setenv("WPGD_MAX_SECONDS", str(training_seconds(pr, cfg) * 1.01))
    measure, calls = _measure(1e6)  # would refuse, if asked
    require_run(pr, cfg, measure=measure)
    assert calls == []


def test_the_measurement_decides_where_the_flop_model_refuses(run, monkeypatch):
    """The flop model is over the limit (limit at half its estimate); a measured step that makes the
    run fit passes, one that does not is refused with the measured estimate (negative control)."""
    pr, cfg = run
    limit = training_seconds(pr, cfg) / 2
    monkeypatch.setenv("WPGD_MAX_SECONDS", str(limit))
    fits = limit / 2 / cfg.steps  # run_seconds ≈ half the limit (the evaluations add a little)
    measure, calls = _measure(fits)
    lines = []
    require_run(pr, cfg, measure=measure, log=lines.append)
    assert calls == [cfg.steps] and "timing" in lines[0]
    assert run_seconds(cfg, measure(pr, cfg)) <= limit
    slow, calls = _measure(4 * limit / cfg.steps)
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_run(pr, cfg, measure=slow)
    assert calls == [cfg.steps]


def test_far_over_the_limit_is_refused_untimed(run, monkeypatch):
    pr, cfg = run
    monkeypatch.setenv("WPGD_MAX_SECONDS", str(training_seconds(pr, cfg) / MEASURE_UP_TO / 1.5))
    measure, calls = _measure(1e-9)  # would pass, if asked
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_run(pr, cfg, measure=measure)
    assert calls == []


def test_memory_is_refused_before_any_timing(run, monkeypatch):
    pr, cfg = run
    monkeypatch.setenv("WPGD_MAX_MEMORY_GB", "1e-9")
    measure, calls = _measure(1e-9)
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_MEMORY_GB"):
        require_run(pr, cfg, measure=measure)
    assert calls == []


def test_a_set_of_runs_is_measured_summed_and_shared_among_jobs(run, monkeypatch):
    """``require_runs`` (``wpgd experiment``'s guard): three runs the flop model refuses are each
    timed once and pass when their measured sum fits; with one job a set whose sum is over the limit
    is refused (negative control), and the same set at three jobs passes (the sum is shared)."""
    from wpgd.numerics.nn.step_timing import require_runs

    pr, cfg = run
    other = Problem.segmented(np.eye(3), [5, 5], [0.3, 0.8], noise=0.1)
    runs = [(pr, cfg), (pr, TrainConfig.for_model("linear", progress=False).resolved(pr)), (other, cfg)]
    flop = sum(training_seconds(p, c) for p, c in runs)
    limit = flop / 4  # the flop model refuses the set even at three jobs
    monkeypatch.setenv("WPGD_MAX_SECONDS", str(limit))
    per_run = limit / 2 / len(runs)  # the measured set takes half the limit
    measure, calls = _measure(per_run / cfg.steps)
    require_runs(runs, measure=measure)
    assert len(calls) == 3
    slow, calls = _measure(2 * limit / len(runs) / cfg.steps)  # the set takes 2× the limit
    with pytest.raises(ResourceLimitError, match="3 training runs"):
        require_runs(runs, measure=slow)
    require_runs(runs, parallel=3, measure=slow)
    assert 2 * training_seconds(pr, cfg) > limit  # the flop model refuses the pair below
    twice, calls = _measure(per_run / cfg.steps)
    require_runs([(pr, cfg), (pr, cfg)], measure=twice)
    assert len(calls) == 1  # a run listed twice is timed once


def test_the_experiment_guard_keeps_the_one_hour_default(run, monkeypatch):
    """``require_runs`` without ``default_limit`` uses the guard's 1 h, ``require_run`` the training
    run's 4 h: a run measured at 2 h passes the one and not the other."""
    from wpgd.numerics.nn.step_timing import require_runs

    pr, cfg = run
    monkeypatch.delenv("WPGD_MAX_SECONDS", raising=False)
    monkeypatch.setattr("wpgd.numerics.nn.step_timing.training_seconds", lambda p, c: 3 * 3600.0)
    measure, _ = _measure(2 * 3600.0 / cfg.steps)
    require_run(pr, cfg, measure=measure)
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_runs([(pr, cfg)], measure=measure)
