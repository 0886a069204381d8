"""The automatic re-run of a vector run that ends outside its tolerance at the best one-signed
weights' risk (``TrainConfig.auto_rerun``, docs/training.md "Automatic re-run"): when it is resolved
on, when it fires, that it is exactly the run with that many steps, and that an interrupted re-run
resumes from the same call."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="SKIP: the trainer needs PyTorch")

from wpgd.numerics.core.convergence import ONE_SIGNED_BAND, one_signed_position  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.nn import training  # noqa: E402
from wpgd.numerics.nn.train_config import AUTO_RERUN_FACTOR, TrainConfig  # noqa: E402
from wpgd.numerics.nn.train_loop import RunState  # noqa: E402


def _sign_changing():
    """d = 1, a far segment anti-correlated with the query: the vector optimum's weights change sign."""
    return Problem.segmented(np.eye(1), [3, 3], [-0.5, 0.8], noise=0.1)


def _one_signed():
    return Problem.segmented(np.eye(1), [3, 3], [0.3, 0.8], noise=0.1)


def _cfg(**kw):
    base = dict(steps=20, batch_size=32, eval_every=5, eval_prompts=64, final_prompts=512, eval_batch=256,
                checkpoint_every=0, progress=False)
    return TrainConfig.for_model("vector", **{**base, **kw})


def test_one_signed_position_reads_the_interval_against_the_band():
    """"at" when the interval of the gap to the one-signed risk touches ±1%, "above"/"below" when it
    lies wholly beyond it; None without the entries (a reference that does not change sign)."""
    assert ONE_SIGNED_BAND == 0.01
    assert one_signed_position({"one_signed_gap_ci": [0.003, 0.009]}) == "at"
    assert one_signed_position({"one_signed_gap_ci": [0.008, 0.022]}) == "at"  # touches the band from above
    assert one_signed_position({"one_signed_gap_ci": [-0.022, -0.008]}) == "at"
    assert one_signed_position({"one_signed_gap_ci": [0.0101, 0.03]}) == "above"
    assert one_signed_position({"one_signed_gap_ci": [-0.03, -0.0101]}) == "below"
    assert one_signed_position({"risk": 0.5}) is None


def test_auto_rerun_resolves_on_only_for_a_derived_budget_with_the_sign_change_start():
    on = TrainConfig.for_model("vector").resolved(_sign_changing())
    assert on.sign_change_start is True and on.auto_rerun == AUTO_RERUN_FACTOR == 3
    # the plain start (switched off here) was measured to end worse when re-run
    assert TrainConfig.for_model("vector", sign_change_start=False).resolved(_sign_changing()).auto_rerun == 1
    assert on.resolved(_sign_changing()).auto_rerun == 3  # idempotent
    assert TrainConfig.for_model("vector", steps=100).resolved(_sign_changing()).auto_rerun == 1  # explicit steps
    assert TrainConfig.for_model("vector").resolved(_one_signed()).auto_rerun == 1
    assert TrainConfig.for_model("scalar").resolved(_sign_changing()).auto_rerun == 1
    assert TrainConfig.for_model("vector", steps=100, auto_rerun=5).resolved(_sign_changing()).auto_rerun == 5
    # 1 is left out of the dict (sweep keys and checkpoints of unaffected runs are unchanged) and restored
    off = TrainConfig.for_model("scalar").resolved(_sign_changing())
    assert "auto_rerun" not in off.to_dict() and TrainConfig.from_dict(off.to_dict()) == off
    assert TrainConfig.from_dict(on.to_dict()) == on
    for bad in (0, -1, 2.5, True, "yes"):
        with pytest.raises(training.InvalidProblemError, match="auto_rerun"):
            TrainConfig.for_model("vector", auto_rerun=bad)


def _missed(position="at", **over):
    lo = {"at": 0.002, "above": 0.02, "below": -0.05}[position]
    m = {"model": "vector", "status": "not_converged", "label_trap_share": 0.1, "label_trap_threshold": 0.4,
         "references": [{"class": "vector", "one_signed_gap_ci": [lo, lo + 0.01]}]}
    m.update(over)
    return m


def _decide(cfg, metrics, run=None, own_model=True):
    said: list = []
    return training._auto_rerun(_sign_changing(), cfg, metrics, run or RunState(None, [], None, None, None),
                                own_model=own_model, say=said.append)


def test_the_rerun_is_made_once_for_a_vector_miss_at_or_below_the_one_signed_risk():
    cfg = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=True)
    assert _decide(cfg, _missed("at")) == 300
    assert _decide(cfg, _missed("below")) == 300
    # controls: each condition alone stops it
    assert _decide(cfg, _missed("above")) is None
    assert _decide(cfg, _missed(status="converged")) is None
    assert _decide(cfg, _missed(label_trap_share=0.9)) is None
    assert _decide(cfg, _missed(references=[{"class": "vector"}])) is None
    assert _decide(cfg, _missed(), own_model=False) is None  # a caller's model cannot be started again
    assert _decide(TrainConfig.for_model("vector", steps=100, auto_rerun=1, sign_change_start=True), _missed()) is None
    assert _decide(TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=False), _missed()) is None
    assert _decide(TrainConfig.for_model("scalar", steps=100, auto_rerun=3), _missed(model="scalar")) is None
    done = RunState(None, [], None, None, None, auto_rerun={"from": 100, "to": 300})
    assert _decide(cfg, _missed(), done) is None  # once


def test_a_rerun_the_time_guard_refuses_is_not_made(monkeypatch):
    said: list = []
    pr = _sign_changing()
    cfg = TrainConfig.for_model("vector", steps=100, auto_rerun=3).resolved(pr)
    assert cfg.sign_change_start is True
    monkeypatch.setenv("WPGD_MAX_SECONDS", "1e-6")
    assert training._auto_rerun(pr, cfg, _missed(), RunState(None, [], None, None, None),
                                own_model=True, say=said.append) is None
    assert said and said[-1].startswith("no automatic re-run with 300 steps: training (300 steps"), said
    assert "would take about" in said[-1] and "WPGD_MAX_SECONDS" in said[-1]


@pytest.fixture
def always_at(monkeypatch):
    """Every finished run reads as sitting on one-signed weights, so that a 20-step run (far from
    converged) is re-run; the decision itself is tested above on hand-made metrics."""
    monkeypatch.setattr(training, "one_signed_position", lambda ref: "at" if "one_signed_gap_ci" in ref else None)


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    pa, pb = _params(a), _params(b)
    return pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


def test_the_automatic_rerun_is_the_run_with_that_many_steps(tmp_path, always_at):
    """Run A ends its 20 steps outside its tolerance and is re-run with 60; run B is a run of 60
    steps from the start. They end bit-identical (weights, curve, risk), and A records the re-run,
    with the first run's evaluation, in metrics.json, config.json and its steps rule."""
    pr = _sign_changing()
    a = training.train(pr, _cfg(auto_rerun=3), tmp_path / "a")
    first = a.metrics["auto_rerun"]
    assert first["from"] == 20 and first["to"] == 60 and first["factor"] == 3
    assert first["first_evaluation"]["gap"] > 0.03  # the precondition: 20 steps missed
    assert a.metrics["steps"] == 60 and a.metrics["segments"] == [60]
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["config"]["steps"] == 60 and "re-run automatically from the start with 60 steps: the 20-step run ended" in saved["config"]["steps_rule"]
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["auto_rerun"]["to"] == 60
    assert json.loads((tmp_path / "a" / "history.json").read_text()) == a.history

    b = training.train(pr, _cfg(steps=60, auto_rerun=1), tmp_path / "b")
    assert b.metrics["auto_rerun"] is None
    assert _same(a.model, b.model) and a.history == b.history and a.metrics["risk"] == b.metrics["risk"]
    # control: the first 20-step run is a different model
    assert not _same(a.model, training.train(pr, _cfg(auto_rerun=1)).model)


def test_an_interrupted_rerun_resumes_from_the_same_call_and_then_reads_as_complete(tmp_path, always_at):
    pr = _sign_changing()
    whole = training.train(pr, _cfg(auto_rerun=3), tmp_path / "whole")
    part = training.train(pr, _cfg(auto_rerun=3), tmp_path / "part", stop_after=40)
    assert part.metrics == {} and not (tmp_path / "part" / "metrics.json").exists()
    # the experiments' reuse test reads it as this call's run too
    assert training.checkpoint_matches(tmp_path / "part" / "checkpoint.pt", _cfg(auto_rerun=3), pr)
    said: list = []
    done = training.train(pr, _cfg(auto_rerun=3), tmp_path / "part", log=said.append)
    assert done.resumed_from == 40 and "resumed from step 40 of 60 (the automatic re-run with 60 steps)" in said
    assert _same(whole.model, done.model) and done.metrics["auto_rerun"]["from"] == 20
    again = training.train(pr, _cfg(auto_rerun=3), tmp_path / "part", log=said.append)
    assert again.already_complete and again.metrics["steps"] == 60
    # a checkpoint that is not an automatic re-run is still refused fewer steps than it plans
    training.train(pr, _cfg(steps=30, auto_rerun=1), tmp_path / "plain")
    assert not training.checkpoint_matches(tmp_path / "plain" / "checkpoint.pt", _cfg(auto_rerun=3), pr)
    with pytest.raises(training.InvalidProblemError, match="is a run of 30 steps"):
        training.train(pr, _cfg(auto_rerun=3), tmp_path / "plain")


def test_no_rerun_where_the_run_is_above_the_one_signed_risk(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "one_signed_position", lambda ref: "above")
    res = training.train(_sign_changing(), _cfg(auto_rerun=3), tmp_path / "run")
    assert res.metrics["status"] == "not_converged" and res.metrics["steps"] == 20
    assert res.metrics["auto_rerun"] is None


def test_cli_says_the_run_was_rerun_and_points_a_further_miss_to_another_seed(tmp_path, capsys, always_at):
    from wpgd.cli import main

    spec = tmp_path / "p.toml"
    spec.write_text('[features]\ndim = 1\n[tasks]\nsegments = [3, 3]\nquery_correlation = [-0.5, 0.8]\n'
                    '[noise]\nvariance = 0.1\n')
    argv = ["train", "--spec", str(spec), "--model", "vector", "--steps", "20", "--auto-rerun", "3",
            "--batch-size", "32", "--final-prompts", "512", "--eval-prompts", "64", "--out", str(tmp_path / "run")]
    assert main(argv) == 3
    out = capsys.readouterr()
    assert "running it again from the start with 60 steps (×3, once" in out.err
    lines = out.out.rstrip().splitlines()
    assert any(x.startswith("re-run           automatically, from the same start with 60 steps: the 20-step run")
               for x in lines), lines
    assert "60 steps" in next(x for x in lines if x.startswith("model "))
    assert "This is the automatic re-run with 60 steps of a 20-step run that ended there" in lines[-1]
    assert "--steps 120 continues this run" in lines[-1], lines[-1]
