"""Closed-form risk: properties, a hand-derived special case, and Monte Carlo agreement."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from wpgd.numerics import InvalidProblemError, Problem, monte_carlo_risk, normalized_risk, risk, wpgd_predict
from wpgd.proofs_check.random_problems import random_problem, random_pw
from wpgd.proofs_check.strategies import preconditioners, problems, weights


@given(problems(), st.data(), st.floats(0.05, 20.0), st.sampled_from([-1.0, 1.0]))
def test_scale_invariance(pr, data, t, sign):
    P = data.draw(preconditioners(pr.d))
    w = data.draw(weights(pr.n))
    t = sign * t
    base = risk(pr, P, w)
    assert risk(pr, t * P, w / t) == pytest.approx(base, rel=1e-10, abs=1e-10)


@given(problems(), st.data())
def test_risk_at_least_noise(pr, data):
    P = data.draw(preconditioners(pr.d, scale=3.0))
    w = data.draw(weights(pr.n))
    assert risk(pr, P, w) >= pr.noise - 1e-9 * pr.null_risk


@given(problems(), st.data())
def test_segment_path_equals_dense_path(pr, data):
    P = data.draw(preconditioners(pr.d))
    w = data.draw(weights(pr.n))
    assert risk(pr, P, w) == pytest.approx(risk(pr.as_dense(), P, w), rel=1e-11, abs=1e-11)


EDGE_CASES = {  # what the strategies do not draw by default: n = 1, d = 1, P = 0, ω = 0, σ² = 0
    "n=1": (Problem.segmented(np.diag([1.0, 3.0]), [1], [0.7], noise=0.2), None, None),
    "d=1,n=1": (Problem.dense([[2.0]], [[1.0, -0.4], [-0.4, 0.5]], 0.0), None, None),
    "P=0": (Problem.segmented(np.eye(2), [2, 3], [-0.3, 0.6], noise=0.1), np.zeros((2, 2)), None),
    "omega=0": (Problem.segmented(np.eye(2), [2, 3], [-0.3, 0.6], noise=0.1), None, np.zeros(5)),
    "noise=0": (Problem.segmented(np.diag([0.5, 2.0]), [3, 1], [0.9, -0.2], noise=0.0), None, None),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_properties_at_edge_cases(name):
    pr, P, w = EDGE_CASES[name]
    P = np.array([[0.3, -0.1], [0.2, 0.5]])[: pr.d, : pr.d] if P is None else P
    w = np.linspace(-1.0, 1.5, pr.n) + 0.1 if w is None else w
    base = risk(pr, P, w)
    assert risk(pr, -2.5 * P, w / -2.5) == pytest.approx(base, rel=1e-12, abs=1e-12)
    assert base >= pr.noise - 1e-12 * pr.null_risk
    assert base == pytest.approx(risk(pr.as_dense(), P, w), rel=1e-12, abs=1e-12)
    if not np.any(P) or not np.any(w):
        assert base == pytest.approx(pr.null_risk, rel=1e-15)  # the zero predictor


def test_zero_predictor_and_normalisation():
    pr = random_problem(np.random.default_rng(0), 3, n=4)
    assert risk(pr, np.zeros((3, 3))) == pytest.approx(pr.null_risk, rel=1e-14)
    assert normalized_risk(pr, np.zeros((3, 3))) == pytest.approx(1.0, rel=1e-14)


def test_scalar_case_by_hand():
    # d = n = 1, Σ = s, R̄ = [[ρ1, ρ], [ρ, ρq]], P = p, ω = w:
    # ŷ = p w x x1 (x1 β1 + ξ1). E[ŷ²] = p²w² s·(3 s² ρ1 + s σ²); E[ŷ y] = p w s·(s² ... ) computed by hand:
    # E[ŷ y] = p w E[x² x1²] E[β1 β] = p w s·s·ρ; E[y²] = s ρq + σ².
    s, r1, rho, rq, sig2, p, w = 1.7, 1.3, 0.6, 0.9, 0.2, 0.8, 1.1
    pr = Problem.dense([[s]], [[r1, rho], [rho, rq]], noise=sig2)
    expected = (p * w) ** 2 * s * (3 * s**2 * r1 + s * sig2) - 2 * p * w * s * s * rho + s * rq + sig2
    assert risk(pr, [[p]], [w]) == pytest.approx(expected, rel=1e-13)


def test_batched_risk_matches_loop():
    rng = np.random.default_rng(3)
    pr = random_problem(rng, 3, segments=[2, 4])
    Ps = rng.standard_normal((5, 3, 3))
    ws = rng.standard_normal((5, pr.n))
    batched = risk(pr, Ps, ws)
    assert batched.shape == (5,)
    np.testing.assert_allclose(batched, [risk(pr, P, w) for P, w in zip(Ps, ws)], rtol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("form", ["dense", "segments"])
def test_monte_carlo_agrees_with_closed_form(backend, form):
    if backend == "torch":
        pytest.importorskip("torch")
    rng = np.random.default_rng(42)
    pr = random_problem(rng, 3, n=5, condition=8.0) if form == "dense" else random_problem(
        rng, 3, segments=[3, 2], condition=8.0)
    P, w = random_pw(rng, pr)
    exact = risk(pr, P, w)
    mc = monte_carlo_risk(pr, P, w, samples=300_000, seed=7, backend=backend)
    # |z| ≤ 4.5: a false alarm has probability < 1e-5 per case.
    assert abs(mc.z_score(exact)) <= 4.5
    assert mc.ci_low < mc.mean < mc.ci_high
    assert mc.stderr / exact < 0.015  # the test has power: a 7% error in the formula would fail it


def test_monte_carlo_is_seeded():
    pr = random_problem(np.random.default_rng(1), 2, segments=[2, 2])
    a = monte_carlo_risk(pr, samples=1000, seed=3, batch_size=100)
    b = monte_carlo_risk(pr, samples=1000, seed=3, batch_size=100)
    c = monte_carlo_risk(pr, samples=1000, seed=4, batch_size=100)
    assert a == b  # same seed and batching: bit-identical
    assert a.mean != c.mean


def test_predictor_matches_explicit_sum():
    rng = np.random.default_rng(0)
    X, y, x = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal(3)
    P, w = rng.standard_normal((3, 3)), rng.standard_normal(4)
    explicit = sum(w[i] * y[i] * (x @ P @ X[i]) for i in range(4))
    assert wpgd_predict(X, y, x, P, w) == pytest.approx(explicit, rel=1e-13)


@pytest.mark.parametrize(
    "P,w,msg",
    [
        (np.eye(2), np.ones(3), "shape \\(3, 3\\)"),
        (np.eye(3), np.ones(2), "length n = 4"),
        (np.full((3, 3), np.nan), np.ones(4), "NaN"),
    ],
)
def test_bad_pw_raise(P, w, msg):
    pr = random_problem(np.random.default_rng(0), 3, n=4)
    with pytest.raises(InvalidProblemError, match=msg):
        risk(pr, P, w)


def test_monte_carlo_rejects_bad_arguments():
    pr = random_problem(np.random.default_rng(0), 2, n=2)
    with pytest.raises(InvalidProblemError, match="at least 2"):
        monte_carlo_risk(pr, samples=1)
    with pytest.raises(InvalidProblemError, match="backend"):
        monte_carlo_risk(pr, samples=10, backend="jax")
