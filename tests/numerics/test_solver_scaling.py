"""Regression tests: the solver at extreme scales of r and Σ (found by Hypothesis in CI).

φ_Σ and φ_R are homogeneous of degree 0 in their masses, and the risk obeys
L(P, ω; Σ, σ²) = s·L(sP, ω; Σ/s, σ²/s); the solver must use both instead of underflowing.
"""

import numpy as np
import pytest

from wpgd.numerics import Problem, risk, solve


def test_tiny_but_nonzero_query_correlation():
    # Hypothesis found r = 8e-249: s_k² underflowed to a zero mass and φ_R refused it.
    pr = Problem.dense(np.eye(1), np.array([[1.0, 8.03393137e-249], [8.03393137e-249, 1.0]]), 0.0)
    opt = solve(pr)
    assert opt.degenerate is None and opt.converged
    assert opt.normalized_risk == pytest.approx(1.0, abs=1e-15)  # the achievable gain is ~r²
    assert np.all(np.isfinite(opt.P)) and np.all(np.isfinite(opt.omega))


@pytest.mark.parametrize("s", [1e-150, 1e-40, 1e40, 1e150])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_feature_scale_invariance(s, noise):
    base = Problem.segmented(np.diag([1.0, 2.0, 3.0]), [3, 4], [0.3, 0.5], noise=noise)
    scaled = Problem.segmented(np.diag([1.0, 2.0, 3.0]) * s, [3, 4], [0.3, 0.5], noise=noise * s)
    a, b = solve(base), solve(scaled)
    assert b.converged
    assert b.normalized_risk == pytest.approx(a.normalized_risk, rel=1e-12)
    assert b.gamma == pytest.approx(a.gamma * s, rel=1e-12)
    assert b.mu == pytest.approx(a.mu / s, rel=1e-12)
    np.testing.assert_allclose(b.omega, a.omega, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.P * s, a.P, rtol=1e-11, atol=1e-14)
    assert risk(scaled, b.P, b.omega) == pytest.approx(b.risk, rel=1e-10)
