"""Resource guards of issue 11 (wpgd.numerics.core.limits): the Monte Carlo API, square .npy matrices judged
from their header before loading, and the device-aware training estimate. Each refusal has a
negative control that the same guard lets through."""

import numpy as np
import pytest

import wpgd.numerics.core.limits as limits
from wpgd.numerics import Problem
from wpgd.numerics.core.errors import ResourceLimitError, SpecError
from wpgd.numerics.core.montecarlo import monte_carlo_risk
from wpgd.numerics.core.risk import risk
from wpgd.numerics.core.spec import load_array_file
from wpgd.numerics.nn.training import TrainConfig

PR = Problem.segmented(np.eye(3), [4, 5], [0.2, 0.8], noise=0.1)


def test_monte_carlo_api_refuses_by_time_and_memory(monkeypatch):
    monkeypatch.setenv(limits.SECONDS_ENV, "10")
    with pytest.raises(
        ResourceLimitError, match=r"Monte Carlo with 1000000000000 prompts .* over the limit of 10 s"
    ):
        monte_carlo_risk(PR, samples=10**12)
    monkeypatch.setenv(limits.MEMORY_ENV, "0.01")
    with pytest.raises(
        ResourceLimitError, match=r"Monte Carlo batch of 1000000 prompts .* over the limit of 10 MB"
    ):
        monte_carlo_risk(PR, samples=2 * 10**6, batch_size=10**6)
    # negative control: a small run passes the same guards and estimates the exact risk
    mc = monte_carlo_risk(PR, samples=4000, seed=1)
    exact = risk(PR, np.eye(3), np.ones(PR.n))
    assert abs(mc.mean - exact) <= 5 * mc.stderr + 1e-12 * exact


def _npy_header_only(path, shape, dtype="<f8"):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})


def test_square_npy_refused_from_its_header_before_loading(tmp_path, monkeypatch):
    monkeypatch.setenv(limits.MEMORY_ENV, "1")
    big = tmp_path / "big.npy"
    _npy_header_only(big, (6000, 6000))  # header only: loading it would fail as truncated
    with pytest.raises(
        ResourceLimitError, match=r"the matrix in .*big\.npy.* \(6000×6000\) needs about 1\.73 GB"
    ):
        load_array_file(big, "covariance")
    # negative control: a small header passes the guard and reaches the (failing) load
    small = tmp_path / "small.npy"
    _npy_header_only(small, (100, 100))
    with pytest.raises(SpecError, match="truncated or damaged"):
        load_array_file(small, "covariance")


def _long_config(device):
    return TrainConfig.for_model("scalar", steps=10**8, batch_size=64, device=device, progress=False)


def test_training_estimate_is_device_aware(monkeypatch):
    monkeypatch.setenv(limits.SECONDS_ENV, "3600")
    with pytest.raises(ResourceLimitError, match=r"training .* would take about .* over the limit of 1 h"):
        limits.require_training(PR, _long_config("cpu"))
    # a device measured 1000× faster than the CPU figure accepts the same run (negative control of the above)
    monkeypatch.setattr(limits, "_calibrate", lambda device: 1000 * limits.FLOPS * limits.TRAINING_EFFICIENCY)
    monkeypatch.setattr(limits, "_CALIBRATED", {})
    monkeypatch.setattr(limits, "_device_memory", lambda device: 80e9 if device.startswith("cuda") else None)
    assert limits.training_flops_per_second("cuda") == pytest.approx(1000 * limits.FLOPS)
    limits.require_training(PR, _long_config("cuda"))
    with pytest.raises(ResourceLimitError, match="device memory, over"):
        limits.require_training(PR, TrainConfig.for_model("scalar", batch_size=10**8, device="cuda"))
    # a failed or slow calibration never makes the estimate more optimistic than the CPU figure
    monkeypatch.setattr(limits, "_calibrate", lambda device: 1.0)
    monkeypatch.setattr(limits, "_CALIBRATED", {})
    assert limits.training_flops_per_second("cuda") == limits.FLOPS


def test_experiment_runs_are_summed_and_divided_by_workers(monkeypatch):
    monkeypatch.setenv(limits.SECONDS_ENV, "3600")
    cfg = TrainConfig.for_model("scalar", steps=400_000, batch_size=64, progress=False)
    _, flops, _ = limits._training_estimate(PR, cfg)
    per_run = flops / limits.FLOPS
    k = int(3600 / per_run) + 1  # k runs in a row exceed the hour, k runs on k workers do not
    with pytest.raises(ResourceLimitError, match=rf"{k} training runs, 1 at a time"):
        limits.require_trainings([(PR, cfg)] * k)
    limits.require_trainings([(PR, cfg)] * k, parallel=k)


def test_training_estimate_uses_the_key_width_the_trainer_builds():
    """The estimate (and the refusal line that quotes it) must use the width the trainer builds:
    ``default_key_dim`` (vector: key_width_factor × 2d = 4d by default). Negative control: the rule
    before this test, ``max(2d, d + K + 3)``, quotes 2d for a vector model and fails here."""
    pytest.importorskip("torch")
    from wpgd.numerics.nn.train_config import default_key_dim

    pr = Problem.segmented(np.eye(12), [6, 6], [0.3, 0.8])
    for model in ("vector", "scalar", "linear"):
        cfg = TrainConfig.for_model(model).resolved(pr)
        what = limits._training_estimate(pr, cfg)[2]
        built = default_key_dim(cfg, pr, 12 + 2 + 3)  # the estimate's token-width bound d + K + 3
        assert f"key width {built}," in what, (model, what)
    assert "key width 48," in limits._training_estimate(pr, TrainConfig.for_model("vector").resolved(pr))[2]
    # an explicit key width wins
    assert "key width 7," in limits._training_estimate(pr, TrainConfig.for_model("vector", key_dim=7).resolved(pr))[2]
