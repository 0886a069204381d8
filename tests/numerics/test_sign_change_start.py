"""The sign-change start of vector models (``TrainConfig.sign_change_start``; docs/training.md,
"Vector gating at the edges"): decided from the problem, applied once, explicit values kept, said
on the command line, refused on a checkpoint of the plain start with the flag that continues it."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.references import vector_weights_change_sign  # noqa: E402
from wpgd.numerics.nn.train_config import (  # noqa: E402
    GATE_DECAY,
    OPEN_GATE_DECAY,
    TrainConfig,
    default_key_dim,
    sign_change_start_note,
)

# a far segment anti-correlated with the query: the vector optimum's weights change sign; two
# positive correlations: they do not (the same pair as tests/numerics/test_sign_change_warning.py)
SIGN = Problem.segmented(np.eye(2), [3, 3], [-0.5, 0.8], noise=0.1)
ONE_SIGN = Problem.segmented(np.eye(2), [3, 3], [0.3, 0.8], noise=0.1)
SIGN_TOML = '[features]\ndim = 2\ncovariance = "identity"\n[tasks]\nsegments = [3, 3]\nquery_correlation = [-0.5, 0.8]\n[noise]\nvariance = 0.1\n'


def test_the_problems_are_what_the_tests_say():
    assert vector_weights_change_sign(SIGN) is True
    assert vector_weights_change_sign(ONE_SIGN) is False


def test_auto_applies_the_start_only_to_vector_models_whose_optimum_changes_sign():
    """T = 6 demonstrations + 1 delimiter + the query = 8 tokens: the bias is log(8/0.03) with the
    start and log(8/2) without; the key width 4·(2d) = 16 instead of 2·(2d) = 8."""
    cfg = TrainConfig.for_model("vector").resolved(SIGN)
    assert cfg.sign_change_start is True and cfg.effective_key_width_factor == 4
    assert cfg.init_gate_bias == pytest.approx(math.log(8 / OPEN_GATE_DECAY), abs=1e-6)
    token_dim = cfg.token_dim_for(SIGN)
    assert default_key_dim(cfg, SIGN, token_dim) == 16
    assert cfg.resolved(SIGN) == cfg  # idempotent: the width is not doubled twice
    plain = TrainConfig.for_model("vector").resolved(ONE_SIGN)
    assert plain.sign_change_start is False and default_key_dim(plain, ONE_SIGN, token_dim) == 8
    assert plain.init_gate_bias == pytest.approx(math.log(8 / GATE_DECAY["vector"]), abs=1e-6)
    for model in ("linear", "scalar"):
        assert TrainConfig.for_model(model).resolved(SIGN).sign_change_start is False


def test_explicit_choices_are_kept():
    off = TrainConfig.for_model("vector", sign_change_start=False).resolved(SIGN)
    assert off.sign_change_start is False and off.effective_key_width_factor == 2
    on = TrainConfig.for_model("vector", sign_change_start=True).resolved(ONE_SIGN)
    assert on.effective_key_width_factor == 4
    bias = TrainConfig.for_model("vector", init_gate_bias=1.5).resolved(SIGN)
    assert bias.sign_change_start is True and bias.init_gate_bias == 1.5
    width = TrainConfig.for_model("vector", key_dim=6).resolved(SIGN)
    assert default_key_dim(width, SIGN, width.token_dim_for(SIGN)) == 6
    # the printed line says whose width it is (control: the default width is the doubled one)
    assert "the key width is the one given (key width 6;" in sign_change_start_note(width, SIGN)
    default = TrainConfig.for_model("vector").resolved(SIGN)
    assert "the key width is doubled (key width 16)" in sign_change_start_note(default, SIGN)
    with pytest.raises(InvalidProblemError, match="sign_change_start must be"):
        TrainConfig.for_model("vector", sign_change_start="yes")
    with pytest.raises(InvalidProblemError, match="for vector models only, not scalar"):
        TrainConfig.for_model("scalar", sign_change_start=True)


def test_an_optimum_that_cannot_be_computed_leaves_the_plain_start(monkeypatch):
    """Control: the same config with the optimum available applies the start."""
    from wpgd.numerics.core import references
    from wpgd.numerics.core.errors import WPGDError

    assert TrainConfig.for_model("vector").resolved(SIGN).sign_change_start is True

    def fail(problem):
        raise WPGDError("no optimum")

    monkeypatch.setattr("wpgd.numerics.nn.train_config.vector_weights_change_sign", fail)
    assert references.vector_weights_change_sign is not fail
    assert TrainConfig.for_model("vector").resolved(SIGN).sign_change_start is False


def test_architecture_runs_keep_the_plain_start():
    """``arch_train_config`` builds a plain ``TrainConfig`` (not ``for_model``), so the vector
    family's defaults, this start among them, are opt-in there through overrides."""
    from wpgd.numerics.nn.arch.training import arch_train_config

    assert arch_train_config(SIGN, "gla", steps=10).sign_change_start is False


def test_the_time_estimate_sees_the_doubled_width():
    """The flop model of the time guard builds the width the trainer builds: 16, not 8."""
    from wpgd.numerics.core.limits import _training_estimate

    auto = _training_estimate(SIGN, TrainConfig.for_model("vector", steps=100))
    off = _training_estimate(SIGN, TrainConfig.for_model("vector", steps=100, sign_change_start=False))
    assert auto[1] > 1.5 * off[1], (auto, off)


def _train(tmp_path, *extra):
    spec = tmp_path / "s.toml"
    spec.write_text(SIGN_TOML)
    return subprocess.run([sys.executable, "-m", "wpgd", "train", "--spec", str(spec), "--model", "vector",
                           "--steps", "4", "--final-prompts", "64", "--eval-prompts", "64", "--allow-gap",
                           "--out", str(tmp_path / "run"), *extra], capture_output=True, text=True, timeout=300)


def test_the_command_line_says_so_and_continues_a_plain_run_only_with_the_flag(tmp_path):
    """Control: ``--sign-change-start off`` prints no such line."""
    plain = _train(tmp_path, "--sign-change-start", "off")
    assert plain.returncode == 0, plain.stderr
    assert not [ln for ln in plain.stdout.splitlines() if ln.startswith("sign-change start:")], plain.stdout
    again = _train(tmp_path, "--steps", "6")  # auto: the start applies now, the checkpoint has the plain one
    assert again.returncode == 2, again.stderr
    lines = again.stderr.strip().splitlines()
    assert "--sign-change-start off continues it" in lines[-1] and "Traceback" not in again.stderr, again.stderr
    scalar = subprocess.run([sys.executable, "-m", "wpgd", "train", "--spec", str(tmp_path / "s.toml"), "--model",
                             "scalar", "--sign-change-start", "on", "--out", str(tmp_path / "sc")],
                            capture_output=True, text=True, timeout=300)
    assert scalar.returncode == 2 and "vector models only" in scalar.stderr, scalar.stderr
    assert len(scalar.stderr.strip().splitlines()) == 1 and "Traceback" not in scalar.stderr
    fresh = _train(tmp_path, "--no-resume")
    assert fresh.returncode == 0, fresh.stderr
    note = [ln for ln in fresh.stdout.splitlines() if ln.startswith("sign-change start:")]
    assert len(note) == 1 and "key width 16" in note[0] and "total initial decay 0.03 " in note[0], fresh.stdout


# the far segment barely anti-correlated: the optimum's weights change sign, but the best
# one-signed weights are only about 0.17% worse
IMMATERIAL = Problem.segmented(np.eye(2), [3, 3], [-0.05, 0.8], noise=0.1)
# weights +, −, +: the best one-signed weights are not monotone (+, 0, +), about 2% worse, while
# the best monotone ones are about 17% worse
THREE = Problem.segmented(np.eye(2), [2, 2, 2], [0.6, -0.2, 0.6], noise=0.1)


def _brute_one_signed_risk(problem, seeds=4):
    """min over ω ≥ 0 and over ω ≤ 0 (per token, ω = ±softplus(θ)) of the fixed-weight optimum
    over P: a derivative-free search independent of the cone solver."""
    from scipy.optimize import minimize

    from wpgd.numerics.core.weighting import best_for_weights

    rng = np.random.default_rng(0)
    best = np.inf
    for sign in (1.0, -1.0):
        for _ in range(seeds):
            res = minimize(lambda t: best_for_weights(problem, sign * np.logaddexp(0.0, t)).risk,
                           rng.normal(size=problem.n), method="Nelder-Mead",
                           options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-14})
            best = min(best, res.fun)
    return best


def test_one_signed_excess_is_what_one_signed_weights_cost():
    from wpgd.numerics.core.classes import class_optimum
    from wpgd.numerics.core.references import one_signed_excess

    assert one_signed_excess(ONE_SIGN) < 1e-6  # a one-signed optimum buys nothing from a sign change
    for problem in (SIGN, IMMATERIAL, THREE):
        vector = class_optimum(problem, "vector").risk
        brute = _brute_one_signed_risk(problem)
        # the cone solver's one-signed optimum is the brute-force one, to 1e-6 relative
        assert one_signed_excess(problem) == pytest.approx(brute / vector - 1.0, abs=1e-6)
    assert one_signed_excess(SIGN) > 0.1 and 0.001 < one_signed_excess(IMMATERIAL) < 0.01
    # negative control: the excess of the linear-attention optimum (uniform weights, one-signed
    # too but not the best) is another number, which this tolerance tells apart
    linear = class_optimum(IMMATERIAL, "linear").risk
    assert abs(linear / class_optimum(IMMATERIAL, "vector").risk - 1.0 - one_signed_excess(IMMATERIAL)) > 1e-4


def test_a_sign_change_that_buys_under_one_percent_keeps_the_plain_start(monkeypatch):
    from wpgd.numerics.nn import train_config

    assert vector_weights_change_sign(IMMATERIAL) is True
    cfg = TrainConfig.for_model("vector").resolved(IMMATERIAL)
    assert cfg.sign_change_start is False and cfg.effective_key_width_factor == 2
    note = sign_change_start_note(cfg, IMMATERIAL)
    assert note.startswith("sign-change start: not applied:") and "only 0.1" in note and "from 1%" in note, note
    assert sign_change_start_note(TrainConfig.for_model("vector").resolved(ONE_SIGN), ONE_SIGN) is None
    on = sign_change_start_note(TrainConfig.for_model("vector").resolved(SIGN), SIGN)
    assert "the best one-signed weights are 2" in on, on  # SIGN: about 20% worse
    # control: with a lower threshold the same problem gets the start
    monkeypatch.setattr(train_config, "SIGN_CHANGE_MATERIAL", 0.001)
    assert TrainConfig.for_model("vector").resolved(IMMATERIAL).sign_change_start is True


def test_a_run_saved_with_the_start_is_continued_only_with_the_flag(tmp_path):
    """The other direction of the refusal above: a run made with ``--sign-change-start on`` where
    "auto" now keeps the plain start names the flag that continues it."""
    spec = tmp_path / "s.toml"
    spec.write_text(SIGN_TOML.replace("[-0.5, 0.8]", "[-0.05, 0.8]"))

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "wpgd", "train", "--spec", str(spec), "--model", "vector",
                               "--steps", "4", "--final-prompts", "64", "--eval-prompts", "64", "--allow-gap",
                               "--out", str(tmp_path / "run"), *extra], capture_output=True, text=True, timeout=300)

    first = run("--sign-change-start", "on")
    assert first.returncode == 0, first.stderr
    again = run("--steps", "6")
    assert again.returncode == 2, again.stderr
    last = again.stderr.strip().splitlines()[-1]
    assert "--sign-change-start on continues it" in last and "Traceback" not in again.stderr, again.stderr
    assert run("--steps", "6", "--sign-change-start", "on").returncode == 0


def test_the_help_states_the_constants_the_start_uses():
    """``--sign-change-start``'s help writes the threshold and the two decays as literals (building
    the parser imports no torch); they must be the values the code uses. Control: the help of
    another flag does not carry them."""
    import argparse

    from wpgd.commands.train import add_arguments
    from wpgd.numerics.nn.train_config import SIGN_CHANGE_MATERIAL

    p = argparse.ArgumentParser()
    add_arguments(p)
    helps = {a.dest: a.help for a in p._actions}
    text = helps["sign_change_start"] % {}
    assert f"at least {100 * SIGN_CHANGE_MATERIAL:g}% worse" in text, text
    assert f"total initial decay {OPEN_GATE_DECAY:g} instead of {GATE_DECAY['vector']:g}" in text, text
    assert f"{100 * SIGN_CHANGE_MATERIAL:g}% worse" not in helps["seed"]
