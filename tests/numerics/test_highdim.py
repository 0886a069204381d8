"""The high-dimensional experiment (``wpgd experiment highdim``) on a tiny grid, and its device rule."""

import json

import numpy as np
import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.references import class_risk
from wpgd.numerics.experiments.highdim import HIGHDIM_PANEL, HighdimConfig, eval_batch_for, run_highdim


def test_the_problem_is_the_papers_setting():
    pr = HIGHDIM_PANEL.problem(1000, 100)
    assert pr.d == 100 and pr.n == 1000 and list(pr.segment_sizes) == [500, 500]
    assert list(pr.query_correlation) == [0.2, 0.8] and pr.noise == 0.0
    assert np.array_equal(pr.sigma, np.eye(100))


def test_eval_batch_rule_follows_the_memory_budget():
    assert eval_batch_for("cpu", 40, 10) == 4096  # small prompts: the cap
    small, large = eval_batch_for("cpu", 100, 100), eval_batch_for("cpu", 1000, 100)
    assert large < small <= 4096 and large >= 64
    assert eval_batch_for("cuda", 1000, 100) > large  # a GPU gets a larger budget
    # 8 float32 copies of (n + 2)(d + 2) values per prompt fit the budget
    assert 8 * 4 * 1002 * 102 * eval_batch_for("cpu", 1000, 100, budget=2**30) <= 2**30


@pytest.mark.slow
def test_cli_tiny_highdim_writes_rows_theory_status_plot_and_config(tmp_path, capsys):
    from wpgd.cli import main

    argv = ["experiment", "highdim", "--d", "3", "--n", "6", "4", "--steps", "6", "--batch-size", "16",
            "--final-prompts", "300", "--seed", "4", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["device"] == "cpu"
    assert [(r["model"], r["n"]) for r in res["rows"]] == [("linear", 4), ("scalar", 4), ("linear", 6), ("scalar", 6)]
    for r in res["rows"]:
        theory = class_risk(HIGHDIM_PANEL.problem(r["n"], 3), r["primary"]).normalized
        assert r["references"][r["primary"]]["risk"] == pytest.approx(theory, rel=1e-9)
        assert r["status"] == "not_converged"  # 6 steps cannot land on the optimum
        assert r["ci"][0] <= r["risk"] <= r["ci"][1] and r["steps"] == 6 and r["seed"] == 4
    # the scalar class contains linear attention: its optimum is never above it
    assert all(s <= lin + 1e-12 for s, lin in zip(res["theory"]["scalar"], res["theory"]["linear"]))
    assert json.loads((tmp_path / "highdim.json").read_text())["rows"] == res["rows"]
    dumped = json.loads((tmp_path / "highdim_config.json").read_text())
    assert dumped["train"]["seed"] == 4 and dumped["train"]["data_seed"] == 5 and dumped["n_values"] == [4, 6]
    run_cfg = json.loads((tmp_path / "runs" / "n4-scalar" / "config.json").read_text())["config"]
    assert run_cfg["eval_batch"] == eval_batch_for("cpu", 4, 3) and run_cfg["device"] == "cpu"
    assert (tmp_path / "highdim.png").stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    assert "| scalar | 6 |" in report and "not_converged" in report
    # a second call reuses the finished runs and prints the table
    assert main(argv[:-1] + ["--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| linear | 4 |" in text and "highdim.png" in text and "4 not converged" in text
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if not has_cuda:
        assert main(argv + ["--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_highdim_refuses_other_models_and_tiny_n(tmp_path):
    with pytest.raises(InvalidProblemError, match="linear and scalar"):
        run_highdim(HighdimConfig(d=3, n_values=(4,), models=("vector",)), tmp_path)
    with pytest.raises(InvalidProblemError, match="n values"):
        run_highdim(HighdimConfig(d=3, n_values=(1,)), tmp_path)


def test_measured_step_time_excludes_the_warmup_and_takes_the_median():
    """``measure_step_seconds`` with a clock that advances 1 s per reading: every timed interval is
    exactly 1 s (the warm-up step is not counted); a clock whose warm-up interval is 100 s would
    show through if it were (negative control: the first interval differs)."""
    pytest.importorskip("torch")
    from wpgd.numerics.nn.step_timing import measure_step_seconds
    from wpgd.numerics.nn.train_config import TrainConfig

    ticks = iter(range(10**6))
    cfg = TrainConfig.for_model("scalar", batch_size=8, threads=1)
    t = measure_step_seconds(HIGHDIM_PANEL.problem(4, 2), cfg, steps=3, clock=lambda: float(next(ticks)))
    assert (t.step, t.forward, t.batch) == (1.0, 1.0, 8)
    readings = iter([0.0, 100.0, 101.0] + [200.0 + k for k in range(100)])  # slow warm-up step only
    t = measure_step_seconds(HIGHDIM_PANEL.problem(4, 2), cfg, steps=3, clock=lambda: next(readings))
    assert (t.step, t.forward) == (1.0, 1.0)


def test_the_highdim_guard_uses_the_measured_time(monkeypatch):
    """The default grid (d = 100, n ∈ {100, 200, 400, 1000}) with a stubbed measurement of 0.5 s per
    step and 0.1 s per evaluation pass at n = 100: the estimate is the step budgets times the
    measured times scaled by T = n + 3, the guard passes just above it and refuses just below; the
    flop model alone (negative control) refuses the same grid at that limit."""
    from wpgd.numerics.core.errors import ResourceLimitError
    from wpgd.numerics.core.limits import require_trainings
    from wpgd.numerics.experiments.highdim import estimated_seconds, require_highdim, train_config_for
    from wpgd.numerics.nn.step_timing import StepTiming

    cfg = HighdimConfig()
    seen = []

    def measure(problem, tc):
        seen.append((problem.n, tc.model))
        return StepTiming(step=0.5, forward=0.1, batch=256)

    est = estimated_seconds(cfg, measure)
    assert seen == [(100, "linear"), (100, "scalar")]  # measured once per model, at the smallest n
    expected = 0.0
    for m in cfg.models:
        for n in cfg.n_values:
            tc = train_config_for(cfg, m, n).resolved(HIGHDIM_PANEL.problem(n, 100))
            prompts = tc.eval_prompts * (tc.steps // tc.eval_every + 1) + tc.final_prompts
            expected += (n + 3) / 103 * (0.5 * tc.steps + 0.1 * prompts / 256)
    assert est == pytest.approx(expected, rel=1e-12)
    monkeypatch.setenv("WPGD_MAX_SECONDS", str(est * 1.01))
    require_highdim(cfg, measure)
    runs = [(HIGHDIM_PANEL.problem(n, 100), train_config_for(cfg, m, n).resolved(HIGHDIM_PANEL.problem(n, 100)))
            for n in cfg.n_values for m in cfg.models]
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_trainings(runs)  # the flop model: refused at the same limit
    monkeypatch.setenv("WPGD_MAX_SECONDS", str(est * 0.99))
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_highdim(cfg, measure)


def test_bench_highdim_times_the_experiments_own_run():
    """``benchmarks/bench_highdim.py`` builds each timed run from the experiment's config (it once
    built an unresolved one and failed on every row): at d = 3, n = 6 its row must carry the
    experiment's step budget (``step_budget`` for d = 3, two segments, batch 256), the device's
    evaluation batch, and positive, finite times."""
    import importlib.util
    import math
    from pathlib import Path

    from wpgd.numerics.nn.train_config import step_budget

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_highdim.py"
    spec = importlib.util.spec_from_file_location("bench_highdim", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    row = bench._one("scalar", 6, 3, 1, "cpu", 1)
    assert row["default_steps"] == step_budget("scalar", 3, 2, 256)[0]
    assert row["eval_batch"] == eval_batch_for("cpu", 6, 3)
    assert 0 < row["s_per_step"] < math.inf and row["peak_rss_mib"] >= row["rss_setup_mib"] > 0


def test_the_highdim_guard_counts_only_unfinished_runs(tmp_path, monkeypatch):
    """After a tiny grid has run into a folder, the guard at a limit of a millisecond passes without
    timing anything (every run would be reused); negative controls: an empty folder, and the same
    folder with one n added (only that run is timed) or another seed (every run is retrained), are
    refused at that limit."""
    from wpgd.numerics.core.errors import ResourceLimitError
    from wpgd.numerics.experiments.highdim import require_highdim
    from wpgd.numerics.nn.step_timing import StepTiming

    cfg = HighdimConfig(d=3, n_values=(4,), train={"steps": 4, "batch_size": 8, "final_prompts": 200,
                                                   "eval_prompts": 64, "eval_every": 2, "seed": 1})
    run_highdim(cfg, tmp_path, progress=False)
    seen = []

    def measure(problem, tc):
        seen.append((problem.n, tc.model))
        return StepTiming(step=0.01, forward=0.01, batch=8)

    monkeypatch.setenv("WPGD_MAX_SECONDS", "1e-3")  # the stubbed runs take 0.04 s of steps each
    lines = []
    require_highdim(cfg, measure, log=lines.append, out_dir=tmp_path)
    assert seen == [] and lines == [f"highdim: 2 of 2 runs already finished in {tmp_path} (reused)"]
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_highdim(cfg, measure, out_dir=tmp_path / "empty")
    seen.clear()
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_highdim(HighdimConfig(**{**cfg.to_dict(), "n_values": (4, 6)}), measure, out_dir=tmp_path)
    assert seen == [(6, "linear"), (6, "scalar")]
    seen.clear()
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_SECONDS"):
        require_highdim(HighdimConfig(**{**cfg.to_dict(), "train": {**cfg.train, "seed": 2}}), measure,
                        out_dir=tmp_path)
    assert seen == [(4, "linear"), (4, "scalar")]


def test_seconds_per_step_is_unknown_when_the_finishing_process_trained_no_step():
    """A run resumed from its final checkpoint (its worker killed in the final evaluation) timed
    no step: its s/step is None and the table says so, not 5 s / 16 500 steps = 0.000. Controls:
    a resumed run divides by the steps it timed; metrics from before ``train_steps_timed`` by all."""
    from wpgd.numerics.experiments.highdim import seconds_per_step
    from wpgd.numerics.experiments.report import highdim_table

    assert seconds_per_step({"train_seconds": 5.2, "train_steps_timed": 0}, 16500) is None
    assert seconds_per_step({"train_seconds": 50.0, "train_steps_timed": 100}, 16500) == pytest.approx(0.5)
    assert seconds_per_step({"train_seconds": 165.0}, 16500) == pytest.approx(0.01)
    row = {"model": "linear", "n": 1000, "risk": 0.5, "ci": [0.49, 0.51], "primary": "linear",
           "references": {"linear": {"risk": 0.5, "gap": 0.0}}, "status": "converged", "steps": 16500,
           "seconds_per_step": None}
    assert "not timed" in highdim_table({"rows": [row]}) and "0.000" not in highdim_table({"rows": [row]})
