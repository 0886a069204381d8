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
