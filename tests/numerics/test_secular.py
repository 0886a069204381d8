"""φ, its elasticity and the effective-spectral-gap bounds (wpgd.numerics.core.secular, docs/conditions.md)."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from wpgd.numerics.core.secular import SecularFunction, elasticity_bound, gap_delta, phi, phi_elasticity

log_atoms = st.lists(st.floats(-6, 6), min_size=1, max_size=6)


def _measure(data, loga):
    e = np.exp(np.array(loga))
    w = np.exp(np.array(data.draw(st.lists(st.floats(-8, 8), min_size=len(loga), max_size=len(loga)))))
    return e, w


def _phi_naive(t, e, w):
    t = np.asarray(t, dtype=np.float64)[..., None]
    return np.sum(w / (e + t) ** 2, -1) / np.sum(w * e / (e + t) ** 2, -1)


@given(log_atoms, st.data())
def test_phi_matches_definition_and_lies_between_inverse_atoms(loga, data):
    e, w = _measure(data, loga)
    t = np.exp(np.linspace(-8, 8, 33))
    val = phi(t, e, w)
    np.testing.assert_allclose(val, _phi_naive(t, e, w), rtol=1e-12)
    assert np.all(val <= 1 / e.min() * (1 + 1e-12)) and np.all(val >= 1 / e.max() * (1 - 1e-12))
    assert np.all(np.diff(val) <= 1e-12 * val[:-1])  # non-increasing


@given(log_atoms, st.data())
def test_elasticity_matches_finite_difference_and_gap_bound(loga, data):
    e, w = _measure(data, loga)
    t = np.exp(np.linspace(-6, 6, 25))
    val, eps = phi_elasticity(t, e, w)
    h = 1e-5
    fd = (np.log(_phi_naive(t * np.exp(h), e, w)) - np.log(_phi_naive(t * np.exp(-h), e, w))) / (2 * h)
    np.testing.assert_allclose(eps, fd, atol=1e-7)
    assert np.all(eps <= 0)
    bound = elasticity_bound(t, e.min(), e.max())
    assert np.all(-eps <= bound * (1 + 1e-9) + 1e-15)
    assert np.all(bound <= 2 * gap_delta(e.min(), e.max()) ** 2 * (1 + 1e-12))


@pytest.mark.parametrize("kappa", [4.0, 100.0, 1e6])
def test_gap_bound_is_sharp_for_two_atoms(kappa):
    """sup |ε| = 2δ² is approached: two atoms, t = √(mM), weights at the optimal tilt."""
    m, M = 1.0, kappa
    t = np.sqrt(m * M)
    best = 0.0
    for logit in np.linspace(-12, 12, 2401):
        pi = 1 / (1 + np.exp(-logit))  # probability of the small atom under π ∝ w/(e+t)²
        w = np.array([pi * (m + t) ** 2, (1 - pi) * (M + t) ** 2])
        best = max(best, -float(phi_elasticity(t, [m, M], w)[1]))
    target = 2 * gap_delta(m, M) ** 2
    assert best <= target * (1 + 1e-12)
    assert best >= target * (1 - 1e-4)


def test_single_atom_has_zero_elasticity_and_constant_phi():
    f = SecularFunction(np.array([2.5]), np.array([3.0]))
    val, eps = f.with_elasticity(np.array([0.0, 1.0, 1e6]))
    np.testing.assert_allclose(val, 0.4, rtol=1e-15)
    assert np.all(eps == 0)
    assert f.delta == 0


def test_limits_and_validation():
    f = SecularFunction(np.array([3.0, 1.0]), np.array([1.0, 4.0]))
    assert f.e_min == 1.0 and f.e_max == 3.0
    assert f.at_zero == pytest.approx(float(_phi_naive(0.0, np.array([3.0, 1.0]), np.array([1.0, 4.0]))), rel=1e-15)
    assert f.at_infinity == pytest.approx(float(_phi_naive(1e12, np.array([3.0, 1.0]), np.array([1.0, 4.0]))), rel=1e-9)
    with pytest.raises(ValueError):
        SecularFunction(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError):
        SecularFunction(np.array([1.0]), np.array([0.0]))


def test_masses_spanning_hundreds_of_decades():
    e = np.array([1e-3, 1.0, 1e3])
    w = np.array([1e-250, 1.0, 1e250])
    val, eps = phi_elasticity(np.array([1e-2, 1.0, 1e2]), e, w)
    assert np.all(np.isfinite(val)) and np.all(np.isfinite(eps))
    np.testing.assert_allclose(val, 1e-3, rtol=1e-9)  # the heavy atom dominates


@pytest.mark.slow
def test_against_theory_compiled_phi_and_elasticity():
    import wpgd.theory.secular as secular  # an ImportError in our own wpgd/theory/ is a failure, not a skip
    f, eps_f, comp = secular.compiled_phi(), secular.compiled_elasticity(), secular.compiled_composition()
    rng = np.random.default_rng(3)
    for _ in range(5):
        e, w = np.exp(rng.uniform(-3, 3, 5)), np.exp(rng.uniform(-3, 3, 5))
        er, wr = np.exp(rng.uniform(-3, 3, 4)), np.exp(rng.uniform(-3, 3, 4))
        t = np.exp(rng.uniform(-3, 3, 7))
        val, eps = phi_elasticity(t, e, w)
        np.testing.assert_allclose(val, f(t, e, w), rtol=1e-12)
        np.testing.assert_allclose(eps, eps_f(t, e, w), rtol=1e-9, atol=1e-13)
        mu, es = phi_elasticity(t, e, w)
        val_r, er_ = phi_elasticity(mu, er, wr)
        g, _, eg = comp(t, e, w, er, wr)
        np.testing.assert_allclose(val_r, g, rtol=1e-12)
        np.testing.assert_allclose(es * er_, eg, rtol=1e-8, atol=1e-13)
