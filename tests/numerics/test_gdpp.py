"""The gated GD++ class (wpgd.numerics.nn.feature_recursion, wpgd.numerics.nn.gdpp_optimum) and its verify check."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.core.multilayer import wpgd_recursion_predict  # noqa: E402
from wpgd.numerics.experiments.experiments import MULTILAYER_PANELS, PANELS  # noqa: E402
from wpgd.numerics.nn.feature_recursion import gdpp_recursion_predict, gdpp_torch  # noqa: E402
from wpgd.numerics.nn.gdpp_optimum import gdpp_optimum  # noqa: E402


def _random_layers(rng, d, T, L, diagonal=False):
    out = []
    for _ in range(L):
        mats = [
            0.4 * (np.diag(rng.standard_normal(d)) if diagonal else rng.standard_normal((d, d)))
            for _ in range(3)
        ]
        out.append((*mats, -rng.uniform(0, 1.5, T)))
    return out


@pytest.mark.parametrize("d,T,L", [(2, 5, 2), (3, 7, 3), (4, 6, 1)])
def test_torch_form_equals_numpy_loops(d, T, L):
    rng = np.random.default_rng(d * 10 + L)
    layers = _random_layers(rng, d, T, L)
    B = 4
    X = rng.standard_normal((B, T, d))
    y = rng.standard_normal((B, T))
    y[:, -1] = 0.0
    ref = np.array([gdpp_recursion_predict(X[b], y[b], layers) for b in range(B)])
    tl = [tuple(torch.as_tensor(m) for m in layer) for layer in layers]
    out = gdpp_torch(torch.as_tensor(X).transpose(0, 1), torch.as_tensor(y).T, tl).numpy()
    assert np.max(np.abs(out - ref) / np.maximum(1.0, np.abs(ref))) < 1e-12


def test_without_feature_writes_it_is_the_label_only_recursion():
    rng = np.random.default_rng(3)
    d, T = 3, 6
    layers = _random_layers(rng, d, T, 3)
    X, y = rng.standard_normal((T, d)), np.append(rng.standard_normal(T - 1), 0.0)
    no_feat = [(Q, 0 * A, B, lg) for Q, A, B, lg in layers]
    ref = wpgd_recursion_predict(X, y, [[(Q, lg)] for Q, _, _, lg in layers])
    assert gdpp_recursion_predict(X, y, no_feat) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    # and the feature write changes the prediction (the classes differ)
    assert abs(gdpp_recursion_predict(X, y, layers) - ref) > 1e-3


@pytest.mark.slow
def test_class_optimum_one_and_two_steps():
    problem = PANELS["a"].problem(6, 2)
    one = gdpp_optimum(problem, 1, train_prompts=4096, eval_prompts=50_000, restarts=1)
    two = gdpp_optimum(problem, 2, train_prompts=4096, eval_prompts=50_000, restarts=2)
    # one step: the class is one-layer scalar WPGD; the fitted member lies within 1% of the closed form
    assert one["normalized_risk"] == pytest.approx(one["one_layer_normalized_risk"], rel=0.01)
    assert one["normalized_ci"][0] <= one["normalized_risk"] <= one["normalized_ci"][1]
    # two steps beat the one-layer optimum beyond the interval, and report a feature write
    assert two["normalized_ci"][1] < two["one_layer_normalized_risk"]
    assert np.linalg.norm(two["params"][0]["A"]) > 0
    assert len(two["starts"]) == 2 and "gated GD++" in two["class"]


def test_bad_arguments_are_refused():
    problem = MULTILAYER_PANELS["s3"].problem(6, 2)
    for kwargs in ({"steps": 0}, {"steps": 2, "restarts": 0}, {"steps": 2, "train_prompts": 1}):
        with pytest.raises(InvalidProblemError):
            gdpp_optimum(problem, **kwargs)


def test_three_segment_panel():
    pr = MULTILAYER_PANELS["s3"].problem(12, 4)
    assert pr.num_segments == 3 and list(pr.segment_sizes) == [4, 4, 4] and pr.n == 12
    assert not np.allclose(pr.sigma, np.eye(4))
    with pytest.raises(InvalidProblemError):
        MULTILAYER_PANELS["s3"].problem(2, 4)


def test_verify_check_passes_and_its_control_fails():
    from wpgd.proofs_check.runner import run_checks, run_controls

    # select is a name prefix: multilayer.gdpp_rescale matches too
    (res,) = [r for r in run_checks(quick=True, select=["multilayer.gdpp"]) if r.name == "multilayer.gdpp"]
    assert res.status == "PASS", res.evidence
    (ctl,) = [r for r in run_controls(quick=True, select=["multilayer.gdpp"]) if r.name == "multilayer.gdpp"]
    assert ctl.status == "FAIL", ctl.evidence
