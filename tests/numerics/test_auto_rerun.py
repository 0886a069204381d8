"""The automatic re-run of a vector run that ends outside its tolerance at the best one-signed
weights' risk (``TrainConfig.auto_rerun``, docs/training.md "Automatic re-run"): when it is resolved
on, when it fires, that it is exactly the run with that many steps, and that an interrupted re-run
resumes from the same call."""

from __future__ import annotations

import json
from dataclasses import replace

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


def test_the_rerun_is_made_once_for_a_vector_miss_longer_at_or_below_the_one_signed_risk_plain_above():
    cfg = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=True).resolved(_sign_changing())
    longer = {"to": 300, "start": "same", "changes": {}, "weak_signal_gain": None}
    assert _decide(cfg, _missed("at")) == longer
    assert _decide(cfg, _missed("below")) == longer
    # above: the plain start, the same steps; its gate bias is the plain start's (gates not nearly open)
    plain = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=False).resolved(_sign_changing())
    assert plain.init_gate_bias != cfg.init_gate_bias
    assert _decide(cfg, _missed("above")) == {"to": 100, "start": "plain", "changes": {
        "sign_change_start": False, "init_gate_bias": plain.init_gate_bias}, "weak_signal_gain": None}
    # a gate bias the caller set is kept
    own = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=True,
                                init_gate_bias=2.5).resolved(_sign_changing())
    assert _decide(own, _missed("above"))["changes"] == {"sign_change_start": False}
    # controls: each condition alone stops it
    assert _decide(cfg, _missed("above", label_trap_share=0.9)) is None
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
    assert said and said[-1].startswith("no automatic re-run from the same start with 300 steps: training (300 steps"), said
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
    assert saved["config"]["steps"] == 60 and "re-run automatically from the same start with 60 steps: the 20-step run ended" in saved["config"]["steps_rule"]
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


@pytest.fixture
def always_above(monkeypatch):
    """Every finished run reads as above the best one-signed weights' risk."""
    monkeypatch.setattr(training, "one_signed_position", lambda ref: "above" if "one_signed_gap_ci" in ref else None)


def _reads(monkeypatch, plain: float, start: float):
    """The periodic held-out risk reads ``plain`` for a run with the plain start, ``start`` for one
    with the sign-change start: which of the two is kept is then fixed."""
    monkeypatch.setattr(training, "heldout_risk",
                        lambda model, sampler, config: start if config.sign_change_start else plain)


def _interrupt_rerun_at(monkeypatch, step):
    """The plain-start re-run (same steps as its first run, so ``stop_after`` cannot reach it) stops
    at ``step`` as an interruption would."""
    last = training._last_step
    monkeypatch.setattr(training, "_last_step", lambda c, s: step if c.sign_change_start is False else last(c, s))


def test_a_run_above_the_one_signed_risk_is_rerun_with_the_plain_start(tmp_path, always_above, monkeypatch):
    """A sign-change-start run that ends above the one-signed risk is run again with the plain start
    (half the key width, its gate bias) and the same steps: bit-identical to a plain-start run of
    20 steps. Interrupted, the same call continues it (the checkpoint is the plain start's, which
    the call's sign-change config is mapped to); finished, it reads as complete."""
    pr = _sign_changing()
    _reads(monkeypatch, plain=0.5, start=0.9)
    a = training.train(pr, _cfg(auto_rerun=3), tmp_path / "a")
    rec = a.metrics["auto_rerun"]
    assert rec["start"] == "plain" and rec["from"] == rec["to"] == 20 and rec["kept"] == "re-run"
    assert rec["changes"]["sign_change_start"] is False and rec["first_changes"]["sign_change_start"] is True
    b = training.train(pr, _cfg(auto_rerun=1, sign_change_start=False), tmp_path / "b")
    assert _same(a.model, b.model) and a.history == b.history and a.metrics["risk"] == b.metrics["risk"]
    first = training.train(pr, _cfg(auto_rerun=1))
    assert a.metrics["key_dim"] == b.metrics["key_dim"] == first.metrics["key_dim"] // 2  # the start doubles it
    assert not _same(first.model, b.model)  # control
    # interrupted at step 10 of the re-run, then the same call
    _interrupt_rerun_at(monkeypatch, 10)
    part = training.train(pr, _cfg(auto_rerun=3), tmp_path / "p")
    assert part.metrics == {} and "sign_change_start" not in _ckpt(tmp_path / "p" / "checkpoint.pt")["config"]
    assert training.checkpoint_matches(tmp_path / "p" / "checkpoint.pt", _cfg(auto_rerun=3), pr)
    monkeypatch.setattr(training, "_last_step", lambda c, s: c.steps if s is None else min(c.steps, int(s)))
    said: list = []
    done = training.train(pr, _cfg(auto_rerun=3), tmp_path / "p", log=said.append)
    assert "resumed from step 10 of 20 (the automatic re-run with 20 steps)" in said, said
    assert _same(done.model, b.model) and done.metrics["auto_rerun"]["start"] == "plain"
    assert training.train(pr, _cfg(auto_rerun=3), tmp_path / "p").already_complete


def test_a_plain_start_rerun_that_ends_worse_restores_the_sign_change_run(tmp_path, always_above, monkeypatch):
    """The first run kept after an interrupted plain-start re-run is rebuilt from its file with its
    own start (its key width, twice the re-run's), bit-identical to the sign-change run."""
    pr = _sign_changing()
    _reads(monkeypatch, plain=0.9, start=0.5)
    _interrupt_rerun_at(monkeypatch, 10)
    training.train(pr, _cfg(auto_rerun=3), tmp_path / "p")
    monkeypatch.setattr(training, "_last_step", lambda c, s: c.steps if s is None else min(c.steps, int(s)))
    done = training.train(pr, _cfg(auto_rerun=3), tmp_path / "p")
    first = training.train(pr, _cfg(auto_rerun=1), tmp_path / "first")
    assert done.metrics["auto_rerun"]["kept"] == "first" and done.metrics["key_dim"] == first.metrics["key_dim"]
    assert _same(done.model, first.model) and done.metrics["risk"] == first.metrics["risk"]
    assert _ckpt(tmp_path / "p" / "checkpoint.pt")["config"]["sign_change_start"] is True
    again = training.train(pr, _cfg(auto_rerun=3), tmp_path / "p")
    assert again.already_complete and again.metrics["auto_rerun"]["kept"] == "first"


def test_no_rerun_where_the_miss_reads_neither_way(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "one_signed_position", lambda ref: None)
    res = training.train(_sign_changing(), _cfg(auto_rerun=3), tmp_path / "run")
    assert res.metrics["status"] == "not_converged" and res.metrics["steps"] == 20
    assert res.metrics["auto_rerun"] is None


def _cli_argv(tmp_path) -> list:
    """``wpgd train`` of a 20-step vector run on the sign-changing spec, its re-run on (×3)."""
    spec = tmp_path / "p.toml"
    spec.write_text('[features]\ndim = 1\n[tasks]\nsegments = [3, 3]\nquery_correlation = [-0.5, 0.8]\n'
                    '[noise]\nvariance = 0.1\n')
    return ["train", "--spec", str(spec), "--model", "vector", "--steps", "20", "--auto-rerun", "3",
            "--batch-size", "32", "--final-prompts", "512", "--eval-prompts", "64", "--out", str(tmp_path / "run")]


def test_cli_says_the_run_was_rerun_and_points_a_further_miss_to_another_seed(tmp_path, capsys, always_at):
    from wpgd.cli import main

    argv = _cli_argv(tmp_path)
    assert main(argv) == 3
    out = capsys.readouterr()
    assert "running it again from the same start with 60 steps (×3, once" in out.err
    lines = out.out.rstrip().splitlines()
    assert any(x.startswith("re-run           automatically, from the same start with 60 steps: the 20-step run")
               for x in lines), lines
    assert "60 steps" in next(x for x in lines if x.startswith("model "))
    assert "This is the automatic re-run from the same start with 60 steps of a 20-step run that ended there" in lines[-1]
    assert "--steps 120 continues this run" in lines[-1], lines[-1]


def _ckpt(path):
    return training.load_checkpoint(path)


def test_a_rerun_that_ends_worse_is_discarded_and_the_first_run_kept(tmp_path, always_at, monkeypatch):
    """A re-run that cannot learn (its rate 10⁻⁹) ends worse on the periodic held-out set than the
    20-step run it re-ran: the result is then that first run, bit-identical to a 20-step run
    without a re-run, and the run folder is the first run's (checkpoint, config, curve, metrics),
    with the re-run's checkpoint kept beside it. Control: the same re-run with its rate is kept."""
    pr = _sign_changing()
    plan = training._rerun_plan

    def stalled(*args, **kw):
        config, record = plan(*args, **kw)
        return replace(config, lr=1e-9), record

    monkeypatch.setattr(training, "_rerun_plan", stalled)
    said: list = []
    cfg = _cfg(auto_rerun=3, eval_prompts=2048)  # 64 prompts read the stalled re-run as the better one
    a = training.train(pr, cfg, tmp_path / "a", log=said.append)
    rec = a.metrics["auto_rerun"]
    assert rec["kept"] == "first" and rec["rerun_heldout_risk"] > rec["first_heldout_risk"], rec
    assert any("ended worse than the 20-step run on the periodic held-out set" in x for x in said), said
    b = training.train(pr, replace(cfg, auto_rerun=1), tmp_path / "b")
    assert _same(a.model, b.model) and a.history == b.history
    assert a.metrics["risk"] == b.metrics["risk"] and a.metrics["steps"] == 20 and a.metrics["segments"] == [20]
    assert rec["rerun_evaluation"]["normalized_risk"] > a.metrics["normalized_risk"]
    # the run folder is the first run's; the re-run's checkpoint beside it
    ck = _ckpt(tmp_path / "a" / "checkpoint.pt")
    assert ck["step"] == 20 and ck["config"]["steps"] == 20 and ck["auto_rerun"]["kept"] == "first"
    assert _ckpt(tmp_path / "a" / training.RERUN_FILE)["step"] == 60
    assert _ckpt(tmp_path / "a" / training.FIRST_RUN_FILE)["step"] == 20
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["config"]
    assert saved["steps"] == 20 and saved["steps_rule"].endswith("the 20-step run is kept")
    assert json.loads((tmp_path / "a" / "history.json").read_text()) == b.history
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["auto_rerun"]["kept"] == "first"
    # the same call again shows it, and does not re-run it
    said.clear()
    again = training.train(pr, cfg, tmp_path / "a", log=said.append)
    assert again.already_complete and again.metrics["steps"] == 20 and not any("again" in x for x in said), said
    # interrupted before metrics.json was written: the checkpoint carries the choice, so no second re-run
    (tmp_path / "a" / "metrics.json").unlink()
    said.clear()
    last = training.train(pr, cfg, tmp_path / "a", log=said.append)
    assert not any("again" in x for x in said) and any("running the final evaluation" in x for x in said), said
    assert last.metrics["auto_rerun"]["kept"] == "first" and last.metrics["risk"] == b.metrics["risk"]
    # control: the re-run that learns is kept
    monkeypatch.setattr(training, "_rerun_plan", plan)
    c = training.train(pr, cfg, tmp_path / "c")
    assert c.metrics["auto_rerun"]["kept"] == "re-run" and c.metrics["steps"] == 60
    assert c.metrics["auto_rerun"]["rerun_heldout_risk"] <= c.metrics["auto_rerun"]["first_heldout_risk"]
    assert not (tmp_path / "c" / training.RERUN_FILE).exists()


@pytest.fixture
def first_reads_better(monkeypatch):
    """The periodic held-out risk reads 0.5 for the 20-step run and 0.9 for its re-run, so that the
    choice can be made after an interruption (where the rate of the re-run cannot be changed)."""
    monkeypatch.setattr(training, "heldout_risk", lambda model, sampler, config: 0.5 if config.steps == 20 else 0.9)


def test_an_interrupted_rerun_that_ends_worse_restores_the_first_run_from_its_file(tmp_path, always_at,
                                                                                     first_reads_better):
    pr = _sign_changing()
    part = training.train(pr, _cfg(auto_rerun=3), tmp_path / "part", stop_after=40)
    assert part.metrics == {} and (tmp_path / "part" / training.FIRST_RUN_FILE).is_file()
    done = training.train(pr, _cfg(auto_rerun=3), tmp_path / "part")
    b = training.train(pr, _cfg(auto_rerun=1), tmp_path / "b")
    rec = done.metrics["auto_rerun"]
    assert rec["kept"] == "first" and done.metrics["steps"] == 20
    assert _same(done.model, b.model) and done.history == b.history and done.metrics["risk"] == b.metrics["risk"]
    assert done.metrics["train_seconds"] == rec["first_train_seconds"]
    assert training.train(pr, _cfg(auto_rerun=3), tmp_path / "part").already_complete
    # without the first run's file the re-run is kept, and the user is told
    training.train(pr, _cfg(auto_rerun=3), tmp_path / "gone", stop_after=40)
    (tmp_path / "gone" / training.FIRST_RUN_FILE).unlink()
    said: list = []
    kept = training.train(pr, _cfg(auto_rerun=3), tmp_path / "gone", log=said.append)
    assert kept.metrics["auto_rerun"]["kept"] == "re-run" and kept.metrics["steps"] == 60
    assert any("not in" in x and "keeping the re-run" in x for x in said), said


def test_cli_says_which_of_the_two_runs_it_kept(tmp_path, capsys, always_at, first_reads_better):
    from wpgd.cli import main

    argv = _cli_argv(tmp_path)
    assert main(argv) == 3
    out = capsys.readouterr()
    assert "keeping the first run" in out.err
    line = next(x for x in out.out.splitlines() if x.startswith("re-run "))
    assert "the re-run ended worse (periodic held-out risk 0.90000 against the first run's 0.50000" in line, line
    assert f"so this first run is kept and shown (its checkpoint: {tmp_path / 'run' / 'rerun.pt'})" in line
    assert "20 steps" in next(x for x in out.out.splitlines() if x.startswith("model "))
    last = out.out.rstrip().splitlines()[-1]
    assert "Its automatic re-run from the same start with 60 steps ended worse on the periodic held-out set, so this first run was kept" in last


def test_cli_says_the_run_was_rerun_with_the_plain_start(tmp_path, capsys, always_above, monkeypatch):
    from wpgd.cli import main

    _reads(monkeypatch, plain=0.5, start=0.9)
    argv = _cli_argv(tmp_path)
    main(argv)
    out = capsys.readouterr()
    assert "above even the best one-signed weights' risk, with the sign-change start); running it again with the " \
           "plain start and the same 20 steps" in out.err, out.err
    line = next(x for x in out.out.splitlines() if x.startswith("re-run "))
    assert line.startswith("re-run           automatically, with the plain start and the same 20 steps: the 20-step "
                           "run ended at"), line
    assert "outside its tolerance above the best one-signed weights' risk; the re-run is kept (periodic held-out " \
           "risk 0.50000 against the first run's 0.90000)" in line, line
    last = out.out.rstrip().splitlines()[-1]
    assert "--steps 40 --sign-change-start off continues this run" in last and "plain start" in last, last
    # that command continues it (the kept plain-start run, extended)
    assert main(argv[:6] + ["40", "--sign-change-start", "off"] + argv[7:]) in (0, 3)
    assert "extending the run from 20 to 40 steps" in capsys.readouterr().err
    # --no-resume starts afresh and removes the earlier run's re-run files with its checkpoint
    (tmp_path / "run" / "rerun.pt").write_bytes(b"stale")
    main(argv + ["--no-resume", "--auto-rerun", "1"])
    assert not (tmp_path / "run" / "rerun.pt").exists() and not (tmp_path / "run" / "first_run.pt").exists()


def _weak():
    """d = 1, both segments weakly correlated with the query: the vector optimum is 7.0% below
    predicting zero (a weak signal, under ``WEAK_SIGNAL_GAIN``) and its weights are one-signed."""
    return Problem.segmented(np.eye(1), [3, 3], [0.2, 0.3], noise=0.1)


def _weak_sign_changing():
    """d = 1, a weak signal (6.5% below predicting zero) whose vector optimum changes sign, by 3.5%."""
    return Problem.segmented(np.eye(1), [3, 3], [-0.3, 0.3], noise=0.5)


def test_a_weak_signal_turns_the_rerun_on_with_four_times_the_batch():
    """A derived vector budget on a weak signal resolves the re-run on, with either start, and its
    step rule says so; controls: a strong signal with the plain start, an explicit budget, a scalar
    model."""
    from wpgd.numerics.nn.train_config import WEAK_SIGNAL_GAIN, weak_signal_gain

    gain = weak_signal_gain(_weak())
    assert gain is not None and 0.06 < gain < WEAK_SIGNAL_GAIN
    assert weak_signal_gain(_one_signed()) is None and weak_signal_gain(_sign_changing()) is None  # 40%+ gains
    plain = TrainConfig.for_model("vector").resolved(_weak())
    assert plain.sign_change_start is False and plain.auto_rerun == AUTO_RERUN_FACTOR
    assert ("a run that ends outside its tolerance is run again once with 4× the batch (1024 prompts per step) and "
            f"the same steps, as the vector optimum is only {gain:.1%} below predicting zero (under 10%), and so is "
            "one converged only by chance (predicting zero inside its interval)") in plain.steps_rule
    both = TrainConfig.for_model("vector").resolved(_weak_sign_changing())
    assert both.sign_change_start is True and both.auto_rerun == AUTO_RERUN_FACTOR
    assert "at or below the best one-signed weights' risk is run again once with 3× the steps, one that ends above " \
           "it is run again once with 4× the batch (1024 prompts per step, the plain start)" in both.steps_rule
    assert "batch" not in TrainConfig.for_model("vector").resolved(_sign_changing()).steps_rule.split("--steps")[1]
    assert TrainConfig.for_model("vector").resolved(_one_signed()).auto_rerun == 1
    assert TrainConfig.for_model("vector", steps=100).resolved(_weak()).auto_rerun == 1
    assert TrainConfig.for_model("vector", auto_rerun=1).resolved(_weak()).auto_rerun == 1


def test_a_weak_signal_turns_the_rerun_on_for_linear_and_scalar_runs_with_the_steps_derived_for_the_batch():
    """Linear attention and scalar gating: their own class optimum decides (6.7% and 7.0% below
    predicting zero on the weak spec), and the re-run's steps are the budget derived for four times
    the batch. Controls: a strong signal (a linear optimum 2.4% below zero is weak, the scalar one
    on the same spec is not), an explicit budget, ``auto_rerun`` 1."""
    from wpgd.numerics.nn.train_config import step_budget, weak_rerun_steps, weak_signal_gain

    assert weak_signal_gain(_weak(), "linear") == pytest.approx(0.0668, abs=1e-3)
    assert weak_signal_gain(_weak(), "scalar") == pytest.approx(0.0695, abs=1e-3)
    with pytest.raises(training.InvalidProblemError, match="unknown model"):
        weak_signal_gain(_weak(), "nope")
    for model in ("linear", "scalar"):
        cfg = TrainConfig.for_model(model).resolved(_weak())
        assert cfg.auto_rerun == AUTO_RERUN_FACTOR and cfg.steps == step_budget(model, 1, 2, 256)[0]
        rerun_steps = step_budget(model, 1, 2, 1024)[0]
        assert weak_rerun_steps(cfg, _weak()) == rerun_steps
        assert (f"is run again once with 4× the batch (1024 prompts per step) and the same steps, as the {model} "
                "optimum is only") in cfg.steps_rule  # d = 1: the transient is the whole budget at either batch
        assert TrainConfig.for_model(model, steps=100).resolved(_weak()).auto_rerun == 1
        assert TrainConfig.for_model(model, auto_rerun=1).resolved(_weak()).auto_rerun == 1
        assert TrainConfig.for_model(model).resolved(_one_signed()).auto_rerun == 1
        # set by hand, the steps stay
        assert weak_rerun_steps(replace(cfg, steps=cfg.steps + 1), _weak()) == cfg.steps + 1
    assert TrainConfig.for_model("linear").resolved(_sign_changing()).auto_rerun == AUTO_RERUN_FACTOR
    assert TrainConfig.for_model("scalar").resolved(_sign_changing()).auto_rerun == 1
    # where the statistical phase weighs (d = 44, K = 1): 4000 steps at 256, 2000 at 1024, and the rule says so
    wide = Problem.segmented(np.eye(44), [5], [0.4], noise=0.0)
    cfg = TrainConfig.for_model("linear").resolved(wide)
    assert (cfg.steps, weak_rerun_steps(cfg, wide)) == (4000, 2000)
    assert ("run again once with 4× the batch (1024 prompts per step) and the 2000 steps derived for that batch, "
            "as the linear optimum is only 1.6% below predicting zero") in cfg.steps_rule, cfg.steps_rule


def test_a_weak_signal_miss_is_rerun_with_four_times_the_batch():
    """The plan on hand-made metrics: with a weak signal (the reference's optimum 0.95), a plain-start
    miss gets 4× the batch, and a sign-change miss above the one-signed risk gets the plain start
    and 4× the batch; at or below it, still 3× the steps. Controls: the same misses with a strong
    signal (0.80), with the optimum above predicting zero, in the label trap, or converged."""
    def weak(position, risk=0.95, **over):
        m = _missed(position, **over)
        m["references"] = [{**m["references"][0], "normalized_risk": risk}]
        return m

    plain = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=False,
                                  batch_size=64).resolved(_sign_changing())
    for position in ("above", "at", "below"):
        plan = _decide(plain, weak(position))
        assert plan["to"] == 100 and plan["start"] == "plain" and plan["changes"] == {"batch_size": 256}
        assert plan["weak_signal_gain"] == pytest.approx(0.05)
    start = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=True,
                                  batch_size=64).resolved(_sign_changing())
    above = _decide(start, weak("above"))
    assert above["changes"]["batch_size"] == 256 and above["changes"]["sign_change_start"] is False
    assert _decide(start, weak("at")) == {"to": 300, "start": "same", "changes": {}, "weak_signal_gain": None}
    # controls
    assert _decide(plain, weak("above", risk=0.80)) is None
    assert "batch_size" not in _decide(start, weak("above", risk=0.80))["changes"]
    assert _decide(plain, weak("above", risk=1.02)) is None
    assert _decide(plain, weak("above", status="converged")) is None
    # in the label trap: re-run with a weak signal (where the noise leaves the weak runs), not with a strong one
    assert _decide(plain, weak("above", label_trap_share=0.9))["changes"] == {"batch_size": 256}
    assert _decide(start, weak("at", label_trap_share=0.9))["changes"]["batch_size"] == 256
    assert _decide(plain, weak("above", risk=0.80, label_trap_share=0.9)) is None
    assert _decide(start, weak("above", risk=0.80, label_trap_share=0.9)) is None
    # linear attention and scalar gating: only the weak-signal re-run
    for model in ("scalar", "linear"):
        cfg = TrainConfig.for_model(model, steps=100, auto_rerun=3, batch_size=64)
        assert _decide(cfg, weak("above", model=model)) == {"to": 100, "start": "plain", "changes": {
            "batch_size": 256}, "weak_signal_gain": pytest.approx(0.05)}
        assert _decide(cfg, weak("above", model=model, risk=0.80)) is None
        assert _decide(cfg, _missed("at", model=model)) is None  # no optimum in the record: not weak
        assert _decide(replace(cfg, auto_rerun=1), weak("above", model=model)) is None


def _batch_reads(monkeypatch, rerun: float, first: float):
    """The periodic held-out risk reads ``rerun`` for the weak-signal re-run (batch 128) and
    ``first`` for the first run (batch 32)."""
    monkeypatch.setattr(training, "heldout_risk",
                        lambda model, sampler, config: rerun if config.batch_size == 128 else first)


def test_a_weak_signal_plain_start_run_is_rerun_with_four_times_the_batch(tmp_path, monkeypatch):
    """A 20-step plain-start run on the weak signal misses and is run again with batch 128 and the same
    steps: bit-identical to a run with that batch. Interrupted, the same call continues it;
    finished, it reads as complete. Control: with ``auto_rerun`` 1 nothing is re-run."""
    pr = _weak()
    _batch_reads(monkeypatch, rerun=0.5, first=0.9)
    a = training.train(pr, _cfg(auto_rerun=3), tmp_path / "a")
    rec = a.metrics["auto_rerun"]
    assert rec["first_evaluation"]["gap"] > 0.03 and rec["weak_signal_gain"] == pytest.approx(0.0695, abs=1e-3)
    assert rec["changes"] == {"batch_size": 128} and rec["first_changes"] == {"batch_size": 32}
    assert rec["from"] == rec["to"] == 20 and rec["kept"] == "re-run"
    assert json.loads((tmp_path / "a" / "config.json").read_text())["config"]["batch_size"] == 128
    b = training.train(pr, _cfg(auto_rerun=1, batch_size=128), tmp_path / "b")
    assert b.metrics["auto_rerun"] is None  # control
    assert _same(a.model, b.model) and a.history == b.history and a.metrics["risk"] == b.metrics["risk"]
    assert not _same(a.model, training.train(pr, _cfg(auto_rerun=1)).model)  # control: the batch-32 run
    _batch_rerun_resumes(pr, _cfg(auto_rerun=3), tmp_path / "p", monkeypatch, stop=10, steps=20, expected=b.model)


def _batch_rerun_resumes(pr, cfg, out, monkeypatch, *, stop: int, steps: int, expected):
    """The weak-signal re-run (batch 128) of ``cfg``, interrupted at step ``stop``, is continued by the
    same call to its ``steps`` and ends as the model ``expected``; finished, the call reads as
    complete."""
    last = training._last_step
    monkeypatch.setattr(training, "_last_step", lambda c, s: stop if c.batch_size == 128 else last(c, s))
    part = training.train(pr, cfg, out)
    saved = _ckpt(out / "checkpoint.pt")["config"]
    assert part.metrics == {} and (saved["batch_size"], saved["steps"]) == (128, steps)
    assert training.checkpoint_matches(out / "checkpoint.pt", cfg, pr)
    monkeypatch.setattr(training, "_last_step", last)
    said: list = []
    done = training.train(pr, cfg, out, log=said.append)
    assert f"resumed from step {stop} of {steps} (the automatic re-run with {steps} steps)" in said, said
    assert _same(done.model, expected) and training.train(pr, cfg, out).already_complete


def test_a_weak_signal_linear_run_is_rerun_with_four_times_the_batch_and_its_own_steps(tmp_path, monkeypatch):
    """A linear-attention run on the weak spec that misses (a rate of 10⁻⁷) is run again with batch 128
    and the steps derived for it (10 here, stubbed: at d = 1 they equal the run's): bit-identical to
    a 10-step run with that batch, and its step rule says "the 10 steps derived for that batch".
    Interrupted, the same call continues it; finished, it reads as complete. Control: with
    ``auto_rerun`` 1 nothing is re-run."""
    pr = _weak()
    _batch_reads(monkeypatch, rerun=0.5, first=0.9)
    monkeypatch.setattr(training, "weak_rerun_steps", lambda config, problem: 10)

    def lin(**kw):
        return replace(_cfg(**{"lr": 1e-7, **kw}), model="linear", init_gate_bias=None)

    a = training.train(pr, lin(auto_rerun=3), tmp_path / "a")
    rec = a.metrics["auto_rerun"]
    assert rec["first_evaluation"]["gap"] > 0.02 and rec["weak_signal_gain"] == pytest.approx(0.0668, abs=1e-3)
    assert rec["changes"] == {"batch_size": 128} and (rec["from"], rec["to"], rec["kept"]) == (20, 10, "re-run")
    assert training.rerun_how(rec) == "with a batch of 128 prompts and the 10 steps derived for that batch"
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["config"]
    assert saved["batch_size"] == 128 and saved["steps"] == 10
    assert "re-run automatically with a batch of 128 prompts and the 10 steps derived for that batch: the 20-step " \
           "run ended" in saved["steps_rule"], saved["steps_rule"]
    b = training.train(pr, lin(auto_rerun=1, batch_size=128, steps=10), tmp_path / "b")
    assert b.metrics["auto_rerun"] is None  # control
    assert _same(a.model, b.model) and a.history == b.history and a.metrics["risk"] == b.metrics["risk"]
    _batch_rerun_resumes(pr, lin(auto_rerun=3), tmp_path / "p", monkeypatch, stop=5, steps=10, expected=b.model)


def test_cli_says_the_weak_signal_rerun_had_four_times_the_batch(tmp_path, capsys, monkeypatch):
    """The re-run line names the batch and the gain; the WARNING's "more steps" command carries the
    re-run's batch, and that command continues it; the larger-batch hint starts from the re-run's
    batch. Control: where the first run is kept, the "more steps" command has no batch flag (the
    hint still starts from the batch the re-run tried)."""
    from wpgd.cli import main

    _batch_reads(monkeypatch, rerun=0.5, first=0.9)
    spec = tmp_path / "p.toml"
    spec.write_text('[features]\ndim = 1\n[tasks]\nsegments = [3, 3]\nquery_correlation = [0.2, 0.3]\n'
                    '[noise]\nvariance = 0.1\n')
    # a rate of 10⁻⁷: both runs stay near their start, far outside the tolerance (the final set's interval ±2%)
    argv = ["train", "--spec", str(spec), "--model", "vector", "--steps", "20", "--auto-rerun", "3",
            "--batch-size", "32", "--lr", "1e-7", "--final-prompts", "20000", "--eval-prompts", "64",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 3
    out = capsys.readouterr()
    assert "which is only 7.0% below predicting zero (under 10%), where a batch's gradient is mostly noise); running it " \
           "again with a batch of 128 prompts and the same 20 steps (once;" in out.err, out.err
    line = next(x for x in out.out.splitlines() if x.startswith("re-run "))
    assert line.startswith("re-run           automatically, with a batch of 128 prompts and the same 20 steps: the "
                           "20-step run ended at"), line
    assert "outside its tolerance, with the class optimum only 7.0% below predicting zero" in line, line
    last = out.out.rstrip().splitlines()[-1]
    assert "Try a larger batch (--batch-size 512 --no-resume:" in last and \
           "the automatic re-run's batch of 128 was not enough" in last, last
    assert "more steps (--steps 40 --batch-size 128 continues this run" in last, last
    assert main(argv[:6] + ["40"] + argv[7:10] + ["128"] + argv[11:]) == 3
    assert "extending the run from 20 to 40 steps" in capsys.readouterr().err
    # control: the first run kept
    _batch_reads(monkeypatch, rerun=0.9, first=0.5)
    assert main(argv + ["--no-resume"]) == 3
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert "more steps (--steps 40 continues" in last, last  # the first run's batch: no flag
    assert "Try a larger batch (--batch-size 512 --no-resume:" in last, last  # 128 was tried


def test_a_weak_signal_run_converged_only_by_chance_is_rerun_too():
    """On the measured weak pattern a run that learned 12% of the gain ended +2.99%, inside the 3%
    tolerance by noise. Such a run (converged, predicting zero inside its interval, predicting zero
    itself outside the tolerance) is re-run with 4× the batch. Controls: predicting zero within the
    tolerance (the verdict is then honest about it), the interval excluding zero, a strong signal."""
    def converged(risk, zero_inside=True):
        return {"model": "vector", "status": "converged", "tolerance": 0.03, "label_trap_share": 0.1,
                "label_trap_threshold": 0.4, "indistinguishable_from_zero": zero_inside,
                "references": [{"class": "vector", "normalized_risk": risk, "one_signed_gap_ci": [0.02, 0.03]}]}

    assert training.learned_nothing(converged(0.96)) and not training.learned_nothing(converged(0.975))
    plain = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=False,
                                  batch_size=64).resolved(_sign_changing())
    plan = _decide(plain, converged(0.96))
    assert plan["changes"] == {"batch_size": 256} and plan["to"] == 100
    start = TrainConfig.for_model("vector", steps=100, auto_rerun=3, sign_change_start=True,
                                  batch_size=64).resolved(_sign_changing())
    assert _decide(start, converged(0.96))["changes"]["batch_size"] == 256
    assert _decide(plain, converged(0.975)) is None  # predicting zero +2.6%: within 3%
    assert _decide(plain, converged(0.96, zero_inside=False)) is None
    assert _decide(plain, converged(0.85)) is None and _decide(start, converged(0.85)) is None  # not weak
