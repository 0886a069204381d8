"""The label-trap test of training (``wpgd.numerics.nn.label_trap``, ``train_loop.probe_verdict``).

A one-layer GLA forms the x·y products of a WPGD predictor either with keys that read x and a value
that reads y (any rank of P) or with keys that read y and a value that reads x (rank one: the trap).
These tests build both by hand and check that the share tells them apart, that it does not depend
on the units of x and y, where it is undefined, and that the probe restarts a trapped run for the
trap even when its risk is below any plateau threshold.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.nn.evaluation import HeldOutSet, make_control  # noqa: E402
from wpgd.numerics.nn.gla import GLAModel  # noqa: E402
from wpgd.numerics.nn.label_trap import (  # noqa: E402
    LABEL_TRAP_THRESHOLD,
    TRAP_MIN_STEP,
    label_trap_share,
    leave_label_trap_,
)
from wpgd.numerics.nn.prompts import PromptSampler  # noqa: E402
from wpgd.numerics.nn.train_config import TrainConfig  # noqa: E402
from wpgd.numerics.nn.train_loop import RunState, make_optimiser, probe_verdict  # noqa: E402

D = 3


def _model(P=None, a=None, w=None, layers=1, d=D, scale=1.0):
    """A linear-attention model on tokens [x (d) | y] (mean aggregation) that predicts
    ``xᵀ(P + a wᵀ)·mean_s x_s y_s``: P through the construction's factorisation (keys read x,
    the value's read-out reads y), ``a wᵀ`` through the trap's (keys read y, value reads x). The
    value rows carry a minus sign: ``GLAModel.predict`` is −(the label channel)."""
    m = GLAModel(token_dim=d + 1, key_dim=d + 1, num_layers=layers, gating="none", dtype=torch.float64,
                 aggregation="mean")
    with torch.no_grad():
        for layer in m.layers:
            for t in (layer.W_q, layer.W_k, layer.W_v):
                t.zero_()
            layer.W_q[0, :d, :d] = torch.eye(d)
            if P is not None:
                layer.W_k[0, :d, :d] = torch.as_tensor(P).T
                layer.W_v[0, -1, -1] = -scale
            if a is not None:
                layer.W_q[0, d, :d] = torch.as_tensor(a)
                layer.W_k[0, d, -1] = 1.0
                layer.W_v[0, -1, :d] = -torch.as_tensor(w)
    return m


def test_the_share_separates_the_two_factorisations():
    """The construction reads 0, the trap reads 1, a mix in between, monotone in the trap's weight.
    Negative control: swapping which factorisation carries the rank-one term moves it to the other end."""
    rng = np.random.default_rng(0)
    P = rng.standard_normal((D, D))
    a, w = rng.standard_normal(D), rng.standard_normal(D)
    assert label_trap_share(_model(P=P), D) == pytest.approx(0.0, abs=1e-15)
    assert label_trap_share(_model(a=a, w=w), D) == pytest.approx(1.0, abs=1e-15)
    mixes = [label_trap_share(_model(P=P, a=t * a, w=w), D) for t in (0.1, 1.0, 10.0)]
    assert 0 < mixes[0] < mixes[1] < mixes[2] < 1, mixes
    assert label_trap_share(_model(P=np.outer(a, w)), D) < LABEL_TRAP_THRESHOLD < label_trap_share(
        _model(a=a, w=w), D)


def test_the_share_does_not_depend_on_the_units_of_x_and_y():
    """Every term is a product of one feature weight and one label weight: scaling the feature
    columns by 1/c (x in units c times larger) and the label column by 1/s leaves it unchanged to 1e-12.
    Control: scaling only the trap's label weight changes it."""
    rng = np.random.default_rng(1)
    m = _model(P=rng.standard_normal((D, D)), a=rng.standard_normal(D), w=rng.standard_normal(D))
    before = label_trap_share(m, D)
    layer = m.layers[0]
    with torch.no_grad():
        for t in (layer.W_q, layer.W_k, layer.W_v):
            t[..., :D] /= 7.0
            t[..., -1] /= 0.3
    assert label_trap_share(m, D) == pytest.approx(before, abs=1e-12)
    with torch.no_grad():
        layer.W_k[0, D, -1] *= 5.0
    assert abs(label_trap_share(m, D) - before) > 0.05


def test_the_share_is_undefined_where_the_trap_is_not_a_trap():
    """d = 1 (a rank-one P is every P), two layers, and a model with no x·y pathway give None."""
    assert label_trap_share(_model(P=np.eye(1), a=np.ones(1), w=np.ones(1), d=1), 1) is None
    assert label_trap_share(_model(P=np.eye(D), layers=2), D) is None
    assert label_trap_share(_model(), D) is None
    assert label_trap_share(torch.nn.Linear(2, 2), D) is None


def _tokens(d, batch=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, 9, d + 1, generator=g, dtype=torch.float64)
    z[:, -1, -1] = 0.0  # the query's label slot
    return z


def test_leaving_the_trap_keeps_the_predictor_and_frees_the_rank():
    """``leave_label_trap_`` on a trap model (keys read y, value reads x; no other terms) gives the
    same predictions to 1e-12 with a share of 0 and the rank-one P now in the keys' feature
    weights; on a two-head model with both factorisations it keeps every x·y coefficient: the part
    of the prediction that is odd in the labels is unchanged to 1e-12 (the dropped terms are even
    in them). Negative control: switching the trap off without moving it into the keys (the naive
    fix) changes the predictions."""
    rng = np.random.default_rng(2)
    a, w = rng.standard_normal(D), rng.standard_normal(D)
    z = _tokens(D)
    trap = _model(a=a, w=w)
    before = trap.predict(z).detach().clone()
    assert leave_label_trap_(trap, D) is True
    assert label_trap_share(trap, D) == 0.0
    assert torch.allclose(trap.predict(z).detach(), before, rtol=0, atol=1e-12)
    naive = _model(a=a, w=w)
    with torch.no_grad():
        naive.layers[0].W_k[..., -1] = 0.0
        naive.layers[0].W_v[:, -1, :D] = 0.0
    assert float((naive.predict(z).detach() - before).abs().max()) > 1e-2
    # two heads: both factorisations in one head, the trap alone in the other. Their (k_x·x)(v_x·x)
    # and k_y·v_y·y² terms are dropped; the part of the prediction odd in the labels is the x·y part.
    mixed, other = _model(P=rng.standard_normal((D, D)), a=a, w=w), _model(a=-w, w=a)
    two = GLAModel(token_dim=D + 1, key_dim=2 * (D + 1), num_layers=1, gating="none", num_heads=2,
                   dtype=torch.float64, aggregation="mean")
    with torch.no_grad():
        for name in ("W_q", "W_k", "W_v"):
            getattr(two.layers[0], name)[0] = getattr(mixed.layers[0], name)[0]
            getattr(two.layers[0], name)[1] = getattr(other.layers[0], name)[0]
    flipped = z.clone()
    flipped[..., -1] *= -1

    def odd(m):
        return (m.predict(z) - m.predict(flipped)).detach() / 2

    before = odd(two)
    leave_label_trap_(two, D)
    assert torch.allclose(odd(two), before, rtol=0, atol=1e-12)
    assert label_trap_share(two, D) == 0.0
    assert leave_label_trap_(_model(P=np.eye(1), d=1), 1) is False


def _probe(model, problem, step=TRAP_MIN_STEP, **kw):
    # the hand-built weights are in the spec's coordinates: the given basis, unscaled
    cfg = TrainConfig.for_model("linear", whiten_features=False, normalize_features=False, normalize_labels=False,
                                eval_prompts=4096, dtype="float64", **kw).resolved(problem)
    sampler = PromptSampler(problem, cfg.prompt_format_for(problem), dtype=torch.float64)
    run = RunState(model, *make_optimiser(cfg, model), gen=torch.Generator(), step=step)
    return probe_verdict(run, problem, cfg, HeldOutSet(sampler, 4096, 5))


def test_the_probe_restarts_a_cheap_trap_that_no_plateau_threshold_sees():
    """d = 2, Σ = diag(1, 0.02) (almost rank one), one segment of 20, noise 0.1. The trap model
    realises the rank-one ``P = e₁e₁ᵀ/(1 + 2.1/20)``, whose risk (0.190) is 1% above the linear optimum
    (0.188): the plateau test (threshold 0.2) passes it, the trap test restarts it.
    Controls: the same weights in the construction's factorisation pass both tests, and with the
    trap test off, or at a probe before step ``TRAP_MIN_STEP`` (where the share would read the
    initialisation), the trapped model is not restarted."""
    pr = Problem.segmented(np.diag([1.0, 0.02]), [20], [1.0], noise=0.1)
    scale = 1.0 / (1.0 + (1.0 + 0.1 + 1.0) / 20)  # ≈ the optimal step along e₁ (Σ₁₁ = 1, n = 20)
    trap = _model(a=np.array([scale, 0.0]), w=np.array([1.0, 0.0]), d=2)
    honest = _model(P=np.diag([scale, 0.0]), d=2)
    reason, rec = _probe(trap, pr)
    assert reason == "label trap" and rec["label_trap_share"] > 0.99, (reason, rec)
    lin = make_control(pr).risk / pr.null_risk  # 0.188
    assert rec["heldout_risk"] < 1.05 * lin, (rec, lin)  # measured 0.190: a cheap trap, no plateau
    assert _probe(trap, pr, trap_threshold=None) == (None, {"heldout_risk": rec["heldout_risk"],
                                                            "label_trap_share": None})
    assert _probe(trap, pr, step=TRAP_MIN_STEP - 1)[0] is None
    reason, rec2 = _probe(honest, pr)
    assert reason is None and rec2["label_trap_share"] == 0.0, (reason, rec2)
    assert rec2["heldout_risk"] == pytest.approx(rec["heldout_risk"], rel=1e-9)  # the same predictor


def _failed(share, threshold=LABEL_TRAP_THRESHOLD, **kw):
    from wpgd.numerics.core.convergence import convergence_status

    m = {"model": "linear", "risk": 0.66, "ci": [0.65, 0.67], "null_risk": 1.0, "label_trap_share": share,
         "label_trap_threshold": threshold, "attempts": 1, "restart_reasons": [],
         "references": [{"class": "linear", "label": "linear attention optimum", "risk": 0.44,
                         "normalized_risk": 0.44}], **kw}
    return {**m, **convergence_status(m)}


def test_a_trapped_failure_says_so_and_the_warning_suggests_a_new_start():
    """A failed run whose final share is above its threshold: the reason names the trap, and
    ``wpgd train``'s WARNING suggests another seed or the split start (unless the run had it)
    instead of more steps.
    Controls: the same failure with the share below the threshold, or with the trap test off
    (threshold None), gets the "more steps" advice and no trap sentence; a converged run in the
    trap's weights is not called trapped (the verdict only explains failures)."""
    from types import SimpleNamespace

    from wpgd.commands.train import _warning

    cfg = SimpleNamespace(steps=1500, init_label_split=False)
    trapped = _failed(0.9)
    assert trapped["status"] == "not_converged" and "rank-one label trap" in trapped["reason"]
    text = _warning(trapped, cfg)
    assert "--init-label-split" in text and "more steps do not leave the trap" in text and "--steps 3000" not in text
    assert "--init-label-split" not in _warning(trapped, SimpleNamespace(steps=1500, init_label_split=True))
    for control in (_failed(0.1), _failed(0.9, threshold=None)):
        assert "label trap" not in control["reason"], control["reason"]
        assert "--steps 3000 continues this run" in _warning(control, cfg)
    fine = _failed(0.9, risk=0.441, ci=[0.44, 0.442])
    assert fine["status"] == "converged" and "trap" not in fine["reason"]


def _history_run(readings, *, attempt=0, probe=4650, repair_at=None):
    """A RunState whose history holds periodic evaluations ``(step, share)`` (and a repair record
    after ``repair_at``), at the step of the last reading."""
    hist = []
    for step, share in readings:
        hist.append({"step": step, "attempt": attempt, "train_risk_ema": 0.9, "heldout_risk": 0.8,
                     "label_trap_share": share})
        if step == repair_at:
            hist.append({"step": step, "attempt": attempt, "repair": True, "label_trap_share": share})
    return RunState(None, [], None, None, None, step=readings[-1][0], history=hist, attempt=attempt, probe=probe)


def test_the_early_trap_test_rewrites_at_the_second_trapped_reading_from_step_400():
    """``early_label_trap`` (vector's ``trap_action`` "rewrite"): two periodic evaluations in a row,
    both at step ≥ ``TRAP_MIN_STEP``, reading a share above the threshold, and the run is rewritten
    at the second, long before the probe; the d = 4 eight-segment run of docs/training.md read
    0.88–0.99 from step 400 and waited for its probe at step 4650. Controls, each None: one
    trapped reading (the landing runs' largest share, 0.34 at step 400, was one reading); a
    reading of 0.34 (below 0.4); the first reading at step 200 (the start's share, below
    ``TRAP_MIN_STEP``); ``trap_action`` "restart" (a restart costs steps and waits for the probe);
    the probe's step or later (the probe decides there); the readings of an earlier attempt; a
    reading from before a rewrite of the same attempt; no probe armed."""
    from dataclasses import replace

    from wpgd.numerics.nn.train_loop import early_label_trap

    cfg = TrainConfig(model="vector", trap_action="rewrite")
    assert cfg.trap_threshold == LABEL_TRAP_THRESHOLD and TRAP_MIN_STEP == 400
    fired = early_label_trap(_history_run([(200, 0.95), (400, 0.93), (600, 0.91)]), cfg)
    assert fired == {"heldout_risk": 0.8, "label_trap_share": 0.91, "early": True}, fired
    assert early_label_trap(_history_run([(200, 0.95), (400, 0.93)]), cfg) is None  # one reading from 400
    assert early_label_trap(_history_run([(400, 0.93), (600, 0.34)]), cfg) is None
    assert early_label_trap(_history_run([(400, 0.34), (600, 0.93)]), cfg) is None
    assert early_label_trap(_history_run([(400, 0.93), (600, 0.91)]), replace(cfg, trap_action="restart")) is None
    assert early_label_trap(_history_run([(400, 0.93), (600, 0.91)], probe=600), cfg) is None
    assert early_label_trap(_history_run([(400, 0.93), (600, 0.91)], probe=0), cfg) is None
    assert early_label_trap(_history_run([(400, 0.93), (600, 0.91)]), replace(cfg, trap_threshold=None)) is None
    earlier = _history_run([(400, 0.93)], attempt=0)
    earlier.history += _history_run([(600, 0.91)], attempt=1).history
    earlier.step, earlier.attempt = 600, 1
    assert early_label_trap(earlier, cfg) is None
    assert early_label_trap(_history_run([(400, 0.93), (600, 0.91), (800, 0.9)], repair_at=600), cfg) is None
    again = _history_run([(400, 0.93), (600, 0.91), (800, 0.9), (1000, 0.9)], repair_at=600)
    assert early_label_trap(again, cfg)["label_trap_share"] == 0.9  # back in the trap: two more readings
