"""Training inside the gated GD++ blocks (wpgd.numerics.nn.multilayer_probe.train_in_class)."""

import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.experiments.experiments import PANELS  # noqa: E402
from wpgd.numerics.nn.multilayer_probe import class_masks, train_in_class  # noqa: E402
from wpgd.numerics.nn.training import TrainConfig, train  # noqa: E402

TINY = dict(layers=2, steps=30, batch_size=16, eval_every=15, eval_prompts=64, final_prompts=400, progress=False)


def _off_class_size(model, d):
    return max(float((getattr(layer, name).detach() * (1 - mask)).abs().max())
               for layer, lm in zip(model.layers, class_masks(model, d)) for name, mask in lm.items())


def test_in_class_training_keeps_off_class_blocks_at_zero_and_learns():
    problem = PANELS["a"].problem(4, 2)
    res = train_in_class(problem, TrainConfig.for_model("scalar", **TINY))
    assert _off_class_size(res.model, 2) == 0.0
    # the in-class blocks did move: the risk left the zero predictor
    assert res.metrics["normalized_risk"] < 0.95
    # negative control: the same run without the masks uses the off-class blocks
    free = train(problem, TrainConfig.for_model("scalar", **TINY, restarts=0))
    assert _off_class_size(free.model, 2) > 1e-3


def test_in_class_training_refuses_what_would_leave_the_class():
    problem = PANELS["a"].problem(4, 2)
    with pytest.raises(InvalidProblemError, match="weight_decay"):
        train_in_class(problem, TrainConfig.for_model("scalar", **TINY, weight_decay=0.01))
    with pytest.raises(InvalidProblemError, match="scalar"):
        train_in_class(problem, TrainConfig.for_model("linear", **TINY))


def test_label_rescale_masks_add_only_the_delimiter_label_block():
    from wpgd.numerics.nn.gla import GLAModel

    d, D = 3, 5  # tokens [x (3) | delimiter flag | y]
    model = GLAModel(D, D, 2, "scalar", dtype=torch.float64)
    for rescale in (False, True):
        with torch.no_grad():
            for layer, lm in zip(model.layers, class_masks(model, d, rescale)):
                for name, mask in lm.items():
                    getattr(layer, name).copy_(torch.randn_like(mask) * mask)
        for layer in model.layers:
            M = (layer.W_k[0].T @ layer.W_q[0]).abs()  # rows: key channel, columns: query channel
            V = layer.W_v[0].abs()
            assert M[:d, :d].min() > 0
            outside = M.clone()
            outside[:d, :d] = 0
            if rescale:
                assert M[d, D - 1] > 0 and V[D - 1, d] > 0  # key reads the flag, query the label
                outside[d, D - 1] = 0
            else:  # negative control: the plain class has no delimiter-label block
                assert M[d, D - 1] == 0 and V[D - 1, d] == 0
            assert outside.max() == 0
    with pytest.raises(InvalidProblemError, match="key width"):
        class_masks(GLAModel(D, d, 1, "scalar", dtype=torch.float64), d, True)


def test_label_rescale_block_adds_the_gated_label_rescaling():
    """One head with the gated GD++ blocks and the delimiter label block computes (6.2) plus
    ``r_t ← r_t + c·Σ_{δ≤t} Ω_tδ r_t`` with ``c = a·b·v`` (docs/multilayer.md §3.2)."""
    import numpy as np

    from wpgd.numerics.core.multilayer import causal_weights
    from wpgd.numerics.nn.feature_recursion import construct_gla, gdpp_recursion

    rng = np.random.default_rng(5)
    d, T = 2, 7
    D = d + 2
    A, B = 0.3 * rng.standard_normal((d, d)), 0.3 * rng.standard_normal((d, d))
    w, lg_demo, lg_delim = 0.4, -0.2, -1.3
    model = construct_gla([(w, A, B, lg_demo, lg_delim)], d, flag=True)
    a, b, v = 0.7, -1.1, 0.9
    layer = model.layers[0]
    with torch.no_grad():
        layer.W_q[0, d, D - 1] = a
        layer.W_k[0, d, d] = b
        layer.W_v[0, D - 1, d] = v
    delim = [3]
    X = rng.standard_normal((T, d))
    y = rng.standard_normal(T)
    X[delim], y[delim], y[-1] = 0.0, 0.0, 0.0
    z = np.zeros((T, D))
    z[:, :d], z[:, -1] = X, y
    z[delim, d] = 1.0
    log_gates = np.full(T, lg_demo)
    log_gates[delim] = lg_delim
    _, r = gdpp_recursion(X, y, [(w * B.T, A, B, log_gates)])
    omega = causal_weights(log_gates)
    expected = r + a * b * v * omega[:, delim].sum(axis=1) * y
    out = layer(torch.as_tensor(z)[None])[0, :, -1].detach().numpy()
    assert np.max(np.abs(out - expected)) < 1e-12
    # negative control: the class without the rescaling term misses it by far more
    assert np.max(np.abs(out - r)) > 1e-3
