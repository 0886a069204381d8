"""Edges of the supported range of default ``wpgd train`` (issue 9; docs/training.md, "Edges of the range").

Each test trains a d ≤ 3 setting at an edge of the range in seconds and states a tolerance; each has a
negative control that was run once against the code before its fix (recorded in the docstrings).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.nn.training import TrainConfig, train  # noqa: E402


def _run(problem, model, **kw):
    base = dict(final_prompts=20_000, eval_every=100, checkpoint_every=0, progress=False)
    m = train(problem, TrainConfig.for_model(model, **{**base, **kw})).metrics
    return m, {r["class"]: r for r in m["references"]}


def test_held_out_noise_does_not_restart_a_run_on_the_linear_optimum():
    """d = 1, two segments with task correlations of opposite sign (−0.7, 0.6): linear attention's
    optimum is 0.996, so the plateau threshold ``0.5·(1 − L_lin)`` = 0.002 is below the noise of the
    4096-prompt held-out estimate. The plateau test reads the lower end of the interval, so a run
    that sits on the linear optimum is not restarted (one attempt) and lands within 2%. Before
    that rule the point estimate restarted it at every probe (5 attempts of 5: the negative
    control, seen once with the old rule)."""
    pr = Problem.segmented(np.eye(1), [10, 10], [-0.7, 0.6], noise=0.1)
    m, refs = _run(pr, "linear", steps=300)
    assert m["attempts"] == 1, m["attempts"]
    assert abs(refs["linear"]["gap"]) < 0.02, refs["linear"]


@pytest.mark.slow
def test_a_run_in_the_label_trap_is_restarted_or_rewritten(tmp_path, capsys):
    """d = 2, Σ = I, one segment of 16, c = 0.9, σ² = 0.3, linear attention, seed 1 (2 of seeds
    0–7 do this): the first initialisation falls into the rank-one label trap (the keys read the
    label, the value reads x) and stays near 0.655 against the linear optimum 0.416 (the control,
    with the probe's tests off: more than 20% above, its final label-trap share above 0.5). With
    the defaults, through ``wpgd train``, the label-trap test at the probe (step 450) restarts it
    from the label-split start and the second attempt lands within 2%; the text output says so.
    With ``--trap-action rewrite`` the trap's x·y products are rewritten into the construction's
    factorisation instead and the same attempt trains on (here it lands within 2% too). With the
    trap test off the plateau test (threshold 0.2 on the lower end of the held-out interval; the
    old 0.5 did not catch it) restarts it: the safety net for traps that cost a lot."""
    import json

    from wpgd.cli import main

    pr = Problem.segmented(np.eye(2), [16], [0.9], noise=0.3)
    trapped, refs = _run(pr, "linear", restarts=0, trap_threshold=None, seed=1)
    assert refs["linear"]["gap"] > 0.20 and trapped["label_trap_share"] > 0.5, (refs["linear"], trapped)
    spec = tmp_path / "trap.toml"
    spec.write_text('[features]\ndim = 2\ncovariance = "identity"\n[tasks]\nsegments = [16]\n'
                    'query_correlation = [0.9]\n[noise]\nvariance = 0.3\n')
    argv = ["train", "--spec", str(spec), "--model", "linear", "--seed", "1", "--final-prompts", "20000",
            "--out", str(tmp_path / "run")]
    assert main(argv + ["--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    refs = {r["class"]: r for r in m["references"]}
    assert m["attempts"] == 2 and m["restart_reasons"] == ["label trap"] and m["label_split_start"], m
    assert abs(refs["linear"]["gap"]) < 0.02 and m["label_trap_share"] < 0.1, (refs["linear"], m)
    assert main(argv) == 0  # the finished run's saved result, as text
    assert "restarts         1: 1 from the label trap" in capsys.readouterr().out
    rewrite = argv[:-2] + ["--trap-action", "rewrite", "--out", str(tmp_path / "rewrite")]
    assert main(rewrite) == 0
    out = capsys.readouterr().out
    assert ("label trap       moved out of the rank-one label trap at step 450 of attempt 1 "
            "(label-trap share") in out, out
    assert "at the probe)" in out, out  # one reading from step 400 before the probe: no early rewrite
    m, refs = _run(pr, "linear", seed=1, trap_threshold=None)
    assert m["attempts"] == 2 and m["restart_reasons"] == ["plateau"] and m["label_trap_repairs"] == [], m


def test_a_scalar_run_stuck_at_linear_attention_restarts_from_the_recency_start():
    """d = 3, Toeplitz(0.33) Σ, segments [4, 5, 4] with independent tasks, query correlations
    (−0.25, −0.55, 0.70), σ² = 0 (a d = 3 version of the random draw's d = 12 miss, docs/training.md
    "Stuck at linear attention"). Linear attention's optimum is 0.988 and the scalar class optimum
    0.750, reached by discounting the two early segments. From the near-linear start the
    preconditioner takes the sign of the linear optimum (the early segments' negative correlations
    outweigh the last one's) before the gates move, and non-decreasing weights cannot then discount
    the early segments: the control, with restarts off, ends within 1% of the linear optimum, more
    than 20% above the class optimum (seen: 0.988, +31.8%). With the defaults the probe's
    linear-level test restarts it from the recency start (gate biases log 10 lower) and the second
    attempt lands within 2% (seen: +0.45%)."""
    idx = np.arange(3)
    pr = Problem.segmented(0.33 ** np.abs(idx[:, None] - idx[None, :]), [4, 5, 4], [-0.25, -0.55, 0.70], noise=0.0)
    stuck, refs = _run(pr, "scalar", restarts=0)
    assert refs["scalar"]["gap"] > 0.20, refs["scalar"]
    assert abs(stuck["risk"] / stuck["linear_optimum"] - 1) < 0.01, (stuck["risk"], stuck["linear_optimum"])
    m, refs = _run(pr, "scalar")
    assert m["restart_reasons"] == ["linear level"] and m["recency_start"] is True, m["restart_reasons"]
    assert abs(refs["scalar"]["gap"]) < 0.02, refs["scalar"]


def test_the_linear_level_test_leaves_runs_that_move_off_linear_attention_alone():
    """The same setting with the last segment's correlation flipped to the sign the early ones
    share, (0.25, 0.55, 0.70): the scalar class optimum is again well below linear attention's
    (gating helps), but the preconditioner's first sign is the right one and the run moves off the
    linear level by the probe. The linear-level test must not restart it (one attempt) and it lands
    within 2%: the same rule as the test above, on a run that is not stuck. Negative control, run
    once: with ``train_loop.LINEAR_LEVEL_SHARE`` = 1.5 the same run is restarted at every probe
    (five attempts), so the assertion can fail."""
    idx = np.arange(3)
    pr = Problem.segmented(0.33 ** np.abs(idx[:, None] - idx[None, :]), [4, 5, 4], [0.25, 0.55, 0.70], noise=0.0)
    m, refs = _run(pr, "scalar")
    assert m["attempts"] == 1 and m["restart_reasons"] == [], m["restart_reasons"]
    assert abs(refs["scalar"]["gap"]) < 0.02, refs["scalar"]
