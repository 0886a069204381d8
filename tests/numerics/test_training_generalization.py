"""The default training recipe lands on the theory beyond the setting it was tuned on.

Small settings (d 3–8, one to four segments, non-identity Σ, noise) trained with the *default*
``TrainConfig`` (derived learning rate, step budget and gate bias; docs/training.md) must land
within a stated tolerance of their class optimum; a deliberately short run shows the tolerance
can fail. The old recipe's plateau (d ≥ 20) is too slow for a test and is documented in
docs/training.md with its ablations.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.nn.evaluation import make_control  # noqa: E402
from wpgd.numerics.nn.training import TrainConfig, train  # noqa: E402


def _toeplitz(d, rho):
    i = np.arange(d)
    return rho ** np.abs(i[:, None] - i[None, :])


def _run(problem, model, **kw):
    base = dict(final_prompts=20_000, eval_prompts=1024, eval_every=500, checkpoint_every=0, progress=False)
    cfg = TrainConfig.for_model(model, **{**base, **kw})
    m = train(problem, cfg).metrics
    return m, {r["class"]: r for r in m["references"]}


def test_linear_one_segment_toeplitz_noise():
    """Linear attention, d = 4, Toeplitz(0.5) Σ, one segment of 16, σ² = 0.3: within 3%."""
    pr = Problem.segmented(_toeplitz(4, 0.5), [16], [0.9], noise=0.3)
    m, refs = _run(pr, "linear")
    assert abs(refs["linear"]["gap"]) < 0.03, m


def test_scalar_two_segments_anisotropic():
    """Scalar gating, d = 5, diagonal Σ with condition number 100, segments [6, 6] with the near
    one more correlated, σ² = 0.1: within 3% of the scalar optimum and clearly below the
    linear-attention optimum (it has learned the step-shaped weights)."""
    pr = Problem.segmented(np.diag(np.geomspace(1.0, 0.01, 5)), [6, 6], [0.2, 0.9], noise=0.1)
    m, refs = _run(pr, "scalar")
    assert abs(refs["scalar"]["gap"]) < 0.03, m
    assert m["normalized_ci"][1] < make_control(pr).risk / pr.null_risk - 0.02


@pytest.mark.slow
def test_long_prompt_and_the_tolerance_can_fail():
    """n = 200 demonstrations in one segment (d = 6): the default recipe lands within 3% of the
    linear-attention optimum; a deliberately short run of the same recipe (30 steps) does not
    (the tolerance is not vacuous). The old recipe's plateau needs d ≳ 20 and minutes of CPU, so
    it is shown in docs/training.md, "Root cause of the plateau", not here."""
    pr = Problem.segmented(np.eye(6), [200], [0.8], noise=0.1)
    m, refs = _run(pr, "linear")
    assert abs(refs["linear"]["gap"]) < 0.03, m
    short, refs = _run(pr, "linear", steps=30)
    assert refs["linear"]["gap"] > 0.03, short


def test_mean_aggregation_is_a_reparametrisation_of_the_sum():
    """A "mean" GLA (each layer's output divided by T) equals the "sum" GLA whose value
    projections are divided by T — the construction's function class is unchanged — and differs
    from the same weights under "sum" (negative control)."""
    from wpgd.numerics.nn.gla import GLAModel

    torch.manual_seed(0)
    tokens = torch.randn(3, 9, 5, dtype=torch.float64)
    for gating in ("none", "scalar", "vector"):
        mean = GLAModel(5, 6, num_layers=2, gating=gating, dtype=torch.float64, aggregation="mean")
        total = GLAModel(5, 6, num_layers=2, gating=gating, dtype=torch.float64, aggregation="sum")
        total.load_state_dict(mean.state_dict())
        assert not torch.allclose(total.predict(tokens), mean.predict(tokens))
        with torch.no_grad():
            for layer in total.layers:
                layer.W_v.div_(tokens.shape[1])
        assert torch.allclose(total.predict(tokens), mean.predict(tokens), rtol=1e-12, atol=1e-14)
        assert torch.allclose(total(tokens), mean(tokens), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError):
        GLAModel(5, 6, aggregation="max")


def test_derived_defaults():
    """The rules of train_config: gate bias gives the same total initial decay at every T, the
    learning rate is 0.01 at width 12 and ∝ 1/D, the step budget grows with d and is recorded,
    the tied start makes W_qᵀW_k the identity, and explicit values always win."""
    import math

    from wpgd.numerics.nn.train_config import GATE_DECAY, build_model, gate_bias_rule, lr_rule, step_budget

    for t in (10, 83, 1001):
        assert t * math.exp(-gate_bias_rule("scalar", t)) == pytest.approx(GATE_DECAY["scalar"])
    assert gate_bias_rule("scalar", 83) == pytest.approx(6.0, abs=0.05)  # the old tuned value at n = 80
    assert lr_rule(12) == pytest.approx(0.01) and lr_rule(120) == pytest.approx(0.001)
    small, big = step_budget("scalar", 10, 2, 256), step_budget("scalar", 64, 2, 256)
    assert small[0] < big[0] < step_budget("vector", 64, 2, 256)[0]
    assert str(big[0]) in big[1] and "p = " in big[1]
    pr = Problem.segmented(np.eye(6), [5, 5], [0.2, 0.9])
    cfg = TrainConfig.for_model("scalar").resolved(pr)
    assert cfg.steps == step_budget("scalar", 6, 2, 256)[0] and "derived" in cfg.steps_rule
    assert cfg.lr == pytest.approx(lr_rule(8)) and cfg.init_gate_bias == pytest.approx(math.log(12 / 0.2), abs=1e-6)
    assert cfg.resolved(pr) == cfg
    fixed = TrainConfig.for_model("scalar", steps=7, lr=0.3, init_gate_bias=2.0).resolved(pr)
    assert (fixed.steps, fixed.lr, fixed.init_gate_bias) == (7, 0.3, 2.0) and "explicitly" in fixed.steps_rule
    model = build_model(cfg, 8, 8)
    a = model.layers[0].W_q[0].T @ model.layers[0].W_k[0]
    assert torch.allclose(a, torch.eye(8), atol=1e-5)
    untied = build_model(TrainConfig.for_model("scalar", init_tied_qk=False).resolved(pr), 8, 8)
    assert not torch.allclose(untied.layers[0].W_q[0].T @ untied.layers[0].W_k[0], torch.eye(8), atol=0.1)


@pytest.mark.slow
def test_four_segments_need_one_delimiter_code_per_boundary():
    """Scalar gating, d = 2, four segments [4, 4, 4, 4] with c = (0, 0.6, 0, 0.7): the scalar
    optimum weights segments 2 and 4 and nearly drops 1 and 3, which no geometric profile does. With
    one shared delimiter flag every boundary gets the same gate, the best such model is +10.3%
    above the scalar optimum (benchmarks/delimiter_capacity.py); the default "boundary" codes give
    each boundary its own gate and the default run lands within 3%. The flag run is the negative
    control: it must stay more than 5% above."""
    pr = Problem.segmented(np.eye(2), [4, 4, 4, 4], [0.0, 0.6, 0.0, 0.7], noise=0.1)
    m, refs = _run(pr, "scalar")
    assert abs(refs["scalar"]["gap"]) < 0.03, m
    flag, refs = _run(pr, "scalar", delimiter="flag")
    assert refs["scalar"]["gap"] > 0.05, flag


@pytest.mark.slow
def test_vector_weights_that_change_sign():
    """Vector gating, d = 3, segments [8, 8], c = (−0.6, 0.7), σ² = 0.1: the far segment's task is
    anti-correlated with the query's, so the optimal ω is negative there and positive near the
    query (vector optimum 0.456; the scalar class, ω ≥ 0 monotone, reaches only 0.686). A short
    default run (1500 steps; the sign-change start applies) must land within 3% above the vector
    optimum, the tolerance of ``wpgd train`` (one-sided: a data-dependent gate is a larger class
    than fixed weights; measured −3.5%), and not absurdly below it (10%). Negative control: the
    same run from the all-positive tied start at the construction's width 2d (the derived recipe
    without ``init_signed_groups``, ``key_width_factor`` and the sign-change start;
    docs/training.md, "Vector models") settles near the monotone weights and stays more than 10%
    above."""
    pr = Problem.segmented(np.eye(3), [8, 8], [-0.6, 0.7], noise=0.1)
    m, refs = _run(pr, "vector", steps=1500)
    assert -0.10 < refs["vector"]["gap"] < 0.03, m
    unsigned, refs = _run(pr, "vector", steps=1500, init_signed_groups=False, key_width_factor=1,
                          sign_change_start=False)
    assert refs["vector"]["gap"] > 0.10, unsigned


def test_label_split_start():
    """``init_label_split``: the label column of W_q and W_k is 0, the value's read-out row reads only
    the label, and the signed score form is still ½I on the other coordinates. Control: the default
    vector start has keys that read the label and a value row that reads the features."""
    from wpgd.numerics.nn.train_config import build_model

    pr = Problem.segmented(np.eye(2), [6, 6], [-0.6, 0.7], noise=0.1)
    for split in (True, False):
        cfg = TrainConfig.for_model("vector", init_label_split=split).resolved(pr)
        layer = build_model(cfg, 4, 8).layers[0]
        wq, wk, wv = layer.W_q[0].detach(), layer.W_k[0].detach(), layer.W_v[0, -1].detach()
        label_read = float(wk[:, -1].abs().max()), float(wv[:-1].abs().max())
        if split:
            assert label_read == (0.0, 0.0) and float(wq[:, -1].abs().max()) == 0.0
            assert torch.allclose(wq[:, :-1].T @ wk[:, :-1], 0.5 * torch.eye(3), atol=1e-5)
        else:
            assert min(label_read) > 0.05, label_read


@pytest.mark.slow
def test_vector_label_split_avoids_the_rank_one_label_trap():
    """Vector gating, d = 2, segments [6, 6], c = (−0.6, 0.7), σ² = 0.1 (vector optimum 0.466). The
    terms x_s·y_s of a WPGD predictor have a second factorisation in a GLA: the key reads the label
    and the value reads the features, which gives a rank-one preconditioner (at d = 2 half the rank;
    docs/training.md, "The rank-one label trap"). With ``init_label_split`` (no key reads the label,
    the value's read-out reads only the label) a 1500-step run must land within 3% of the vector
    optimum with a value label weight of order one. Negative control: the default vector start
    with the label-trap test off (label channel inside the random orthogonal start of W_q/W_k,
    value row random; seed 0) ends in the trap, more than 10% above, its value label weight near 0
    and its label-trap share above 0.5. With the defaults the probe at 30% sees the trap in the
    weights and rewrites it into the construction's factorisation, and the run converges (at most
    3% above the optimum; it ends 3.9% below it, which a GLA's label-reading gates allow). All three
    runs use the plain start (``sign_change_start=False``): this optimum's weights change sign, so
    the defaults would apply the sign-change start, whose runs tests/numerics/test_sign_change_start.py
    and ``test_vector_weights_that_change_sign`` cover; the trap and its repair are properties of the
    plain start, which every vector run whose optimum is one-signed has."""
    pr = Problem.segmented(np.eye(2), [6, 6], [-0.6, 0.7], noise=0.1)
    base = dict(final_prompts=20_000, eval_prompts=1024, eval_every=500, checkpoint_every=0, progress=False,
                steps=1500, seed=0, sign_change_start=False)
    res = train(pr, TrainConfig.for_model("vector", init_label_split=True, **base))
    gap = {r["class"]: r["gap"] for r in res.metrics["references"]}["vector"]
    w_y = float(res.model.layers[0].W_v[0, -1, -1].detach())
    assert abs(gap) < 0.03 and abs(w_y) > 0.2, (gap, w_y)
    trap = train(pr, TrainConfig.for_model("vector", trap_threshold=None, **base))
    gap = {r["class"]: r["gap"] for r in trap.metrics["references"]}["vector"]
    w_y = float(trap.model.layers[0].W_v[0, -1, -1].detach())
    assert gap > 0.10 and abs(w_y) < 0.05 and trap.metrics["label_trap_share"] > 0.5, (gap, w_y, trap.metrics)
    default = train(pr, TrainConfig.for_model("vector", **base)).metrics
    gap = {r["class"]: r["gap"] for r in default["references"]}["vector"]
    # converged (at most 3% above); below the optimum is allowed (the gates read the labels: a larger
    # class than WPGD's fixed weights), measured −3.9% here
    assert len(default["label_trap_repairs"]) == 1 and default["status"] == "converged" and gap > -0.10, (gap, default)


@pytest.mark.slow
def test_whitened_features_remove_the_rotated_conditioning():
    """A rotated, ill-conditioned Σ (d = 16, Toeplitz 0.97, κ ≈ 890), two segments of 100,
    σ² = 2, scalar gating with the default budget (1500 steps): the default whitened feature
    basis lands within 1% of the scalar optimum, and the same run in the spec's coordinates
    (``whiten_features=False``, the recipe before whitening: negative control) ends more than one
    point higher (measured: +0.12% against +1.93% at seed 0, +0.34% against +2.04% at seed 1;
    docs/training.md "Conditioning"). About 35 s per run."""
    pr = Problem.segmented(_toeplitz(16, 0.97), [100, 100], [0.3, 0.8], noise=2.0)
    gaps = {}
    for whiten in (True, False):
        m, refs = _run(pr, "scalar", whiten_features=whiten)
        gaps[whiten] = refs["scalar"]["gap"]
    assert gaps[True] < 0.01, gaps
    assert gaps[False] - gaps[True] > 0.01, gaps
