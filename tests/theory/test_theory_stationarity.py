"""Gradient, stationarity conditions, secular-like functions and the optimal scale."""

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import sympy as sp

from wpgd.theory import (
    check_gradient,
    compile_trace_risk,
    compiled_composition,
    compiled_elasticity,
    compiled_optimal_scale,
    compiled_phi,
    compiled_phi_derivative,
    compiled_risk_gradient,
    compiled_stationary_maps,
    composition_elasticity_identity,
    isotropic_reduction,
    phi_derivative_certificate,
    r_reduction_difference,
    risk_structure,
    sigma_reduction_difference,
    stationary_omega,
    stationary_P,
)
from wpgd.theory.contraction import expand_products


def is_zero_matrix_expression(expr):
    """Collect a matrix expression by its products of letters; every coefficient must vanish."""
    coeffs = {}
    for c, letters in expand_products(expr):
        key = tuple(str(x) for x in letters)
        coeffs[key] = coeffs.get(key, 0) + c
    return all(sp.expand(c) == 0 for c in coeffs.values())


def instance(d, n, seed, noise=0.4):
    """Random Σ ≻ 0, R̄ ≻ 0 (query last), P, ω, σ²."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    sigma = A @ A.T + 0.3 * np.eye(d)
    B = rng.normal(size=(n + 1, n + 1))
    rbar = B @ B.T / (n + 1) + 0.2 * np.eye(n + 1)
    return sigma, rbar, rng.normal(size=(d, d)), rng.normal(size=n), noise


def m1_m2(sigma, rbar, s2):
    n = rbar.shape[0] - 1
    R = rbar[:n, :n]
    D = np.diag(np.diag(R))
    return R + D, np.trace(sigma) * D + s2 * np.eye(n), rbar[:n, n]


def phi_ref(t, e, w):
    return np.sum(w / (e + t) ** 2) / np.sum(w * e / (e + t) ** 2)


@pytest.mark.parametrize("d,n", [(1, 1), (2, 2), (3, 2)])
def test_matrix_calculus_gradient_equals_entrywise_derivative(d, n):
    assert check_gradient(d, n)


@pytest.mark.parametrize("seed", range(4))
def test_compiled_gradient_matches_finite_differences(seed):
    sigma, rbar, P, w, s2 = instance(3, 4, seed)
    L, grad = compile_trace_risk(), compiled_risk_gradient()
    gP, gw = grad(sigma, rbar, P, w, s2)
    h = 1e-6
    fdP = np.zeros_like(P)
    for a in range(3):
        for b in range(3):
            E = np.zeros_like(P)
            E[a, b] = h
            fdP[a, b] = (L(sigma, rbar, P + E, w, s2) - L(sigma, rbar, P - E, w, s2)) / (2 * h)
    fdw = np.array(
        [(L(sigma, rbar, P, w + h * e, s2) - L(sigma, rbar, P, w - h * e, s2)) / (2 * h) for e in np.eye(4)]
    )
    scale = max(np.abs(gP).max(), np.abs(gw).max())
    assert np.abs(gP - fdP).max() <= 1e-6 * scale
    assert np.abs(gw - fdw).max() <= 1e-6 * scale


def test_structure_matches_theory_section_4():
    S = risk_structure()
    T = S.symbols
    assert S.M1 == T.R + T.D_R
    assert S.M2 == T.sigma2 * sp.Identity(T.n) + sp.Trace(T.Sigma) * T.D_R
    assert S.a == sp.Trace(T.P * T.Sigma**2)
    assert S.null_risk == T.r_q * sp.Trace(T.Sigma) + T.sigma2


def test_stationary_P_symbolic_form():
    sol, S = stationary_P(), risk_structure()
    assert sol.off_diagonal == 0
    assert sp.expand(sol.slope - S.q1) == 0 and sp.expand(sol.intercept - S.q2) == 0
    assert sp.expand(sol.numerator - S.kappa0) == 0
    assert sp.simplify(sol.gamma - S.q2 / S.q1) == 0


def test_stationary_omega_symbolic_form():
    sol, S = stationary_omega(), risk_structure()
    T = S.symbols
    assert sol.mu == S.c / S.b
    assert sol.h == 2 * S.a * T.r
    assert is_zero_matrix_expression(sp.MatAdd(sol.K, -2 * (S.b * S.M1 + S.c * S.M2)))
    assert not is_zero_matrix_expression(sp.MatAdd(sol.K, -2 * (S.c * S.M1 + S.b * S.M2)))


@pytest.mark.parametrize("seed", range(4))
def test_stationary_maps_zero_the_gradient(seed):
    sigma, rbar, P, w, s2 = instance(3, 5, seed)
    grad = compiled_risk_gradient()
    P_of_w, w_of_P = compiled_stationary_maps()
    Ps = P_of_w(sigma, rbar, w, s2)
    ws = w_of_P(sigma, rbar, P, s2)
    ref_P = grad(sigma, rbar, P, w, s2)[0]
    ref_w = grad(sigma, rbar, P, w, s2)[1]
    assert np.abs(grad(sigma, rbar, Ps, w, s2)[0]).max() <= 1e-10 * np.abs(ref_P).max()
    assert np.abs(grad(sigma, rbar, P, ws, s2)[1]).max() <= 1e-10 * np.abs(ref_w).max()
    M1, M2, r = m1_m2(sigma, rbar, s2)
    gamma = (w @ M2 @ w) / (w @ M1 @ w)
    direction = np.linalg.inv(sigma + gamma * np.eye(3))
    assert np.allclose(Ps / Ps[0, 0], direction / direction[0, 0], rtol=1e-10)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_sigma_side_reduces_to_phi(m):
    assert sigma_reduction_difference(m) == 0


@pytest.mark.parametrize("m", [1, 2])
def test_r_side_reduces_to_phi(m):
    assert r_reduction_difference(m) == 0


@pytest.mark.parametrize("m", [2, 3])
def test_phi_is_decreasing_certificate(m):
    assert phi_derivative_certificate(m) == 0


def test_chain_rule_for_elasticities():
    assert composition_elasticity_identity() == 0


def test_compiled_phi_and_derivatives_vs_numpy():
    rng = np.random.default_rng(0)
    e = rng.uniform(0.1, 3.0, size=5)
    w = rng.uniform(0.0, 2.0, size=5)
    ts = np.array([0.05, 0.4, 2.0, 10.0])
    got = compiled_phi()(ts, e, w)
    assert got.shape == ts.shape
    assert np.allclose(got, [phi_ref(t, e, w) for t in ts], rtol=1e-13)
    h = 1e-6
    fd = np.array([(phi_ref(t + h, e, w) - phi_ref(t - h, e, w)) / (2 * h) for t in ts])
    dphi = compiled_phi_derivative()(ts, e, w)
    assert np.allclose(dphi, fd, rtol=1e-6)
    assert np.all(dphi <= 0)
    assert np.allclose(compiled_elasticity()(ts, e, w), ts * dphi / got, rtol=1e-13)
    assert isinstance(compiled_phi()(0.3, e, w), float)


def test_compiled_composition_vs_numpy():
    rng = np.random.default_rng(1)
    es, ws = rng.uniform(0.2, 2.0, 4), rng.uniform(0.1, 1.0, 4)
    er, wr = rng.uniform(0.5, 4.0, 3), rng.uniform(0.1, 1.0, 3)
    G = lambda g: phi_ref(phi_ref(g, es, ws), er, wr)  # noqa: E731
    gam = np.array([0.1, 0.7, 3.0])
    val, der, ela = compiled_composition()(gam, es, ws, er, wr)
    h = 1e-6
    assert np.allclose(val, [G(g) for g in gam], rtol=1e-13)
    assert np.allclose(der, [(G(g + h) - G(g - h)) / (2 * h) for g in gam], rtol=1e-5)
    inner = compiled_phi()(gam, es, ws)
    chain = compiled_elasticity()(inner, er, wr) * compiled_elasticity()(gam, es, ws)
    assert np.allclose(ela, chain, rtol=1e-12)
    assert np.all(der >= 0)


def test_isotropic_reduction():
    mu, M = isotropic_reduction()
    T = risk_structure().symbols
    assert mu == 1
    assert is_zero_matrix_expression(sp.MatAdd(M, -(T.R + (T.d + 1 + T.sigma2) * sp.Identity(T.n))))


def fixed_point(sigma, rbar, s2):
    """γ* with γ = φ_R(φ_Σ(γ)), and the spectral data (brentq on the bracket [1/ρ_max, 1/ρ_min])."""
    lam = np.linalg.eigvalsh(sigma)
    M1, M2, r = m1_m2(sigma, rbar, s2)
    rho, V = scipy.linalg.eigh(M1, M2)
    s = V.T @ r
    G = lambda g: phi_ref(phi_ref(g, lam, lam**2), rho, s**2)  # noqa: E731
    lo, hi = 1 / rho.max(), 1 / rho.min()
    gamma = scipy.optimize.brentq(lambda g: G(g) - g, lo * (1 - 1e-12), hi * (1 + 1e-12), xtol=1e-15)
    return gamma, phi_ref(gamma, lam, lam**2), M1, M2, r


@pytest.mark.parametrize("seed", range(3))
def test_optimum_from_fixed_point_is_stationary_and_optimal(seed):
    d, n = 3, 4
    sigma, rbar, _, _, s2 = instance(d, n, seed)
    gamma, mu, M1, M2, r = fixed_point(sigma, rbar, s2)
    P_hat = np.linalg.inv(sigma + gamma * np.eye(d))
    w_hat = np.linalg.solve(M1 + mu * M2, r)
    t_star, L_star = compiled_optimal_scale()(sigma, rbar, P_hat, w_hat, s2)
    L, grad = compile_trace_risk(), compiled_risk_gradient()
    gP, gw = grad(sigma, rbar, t_star * P_hat, w_hat, s2)
    ref = np.abs(np.concatenate([x.ravel() for x in grad(sigma, rbar, P_hat, w_hat, s2)])).max()
    assert max(np.abs(gP).max(), np.abs(gw).max()) <= 1e-9 * ref
    assert L(sigma, rbar, t_star * P_hat, w_hat, s2) == pytest.approx(L_star, rel=1e-12)
    a = np.trace(P_hat @ sigma @ sigma)
    b = np.trace(P_hat.T @ sigma @ P_hat @ sigma @ sigma)
    c = np.trace(P_hat.T @ sigma @ P_hat @ sigma)
    den = b * w_hat @ M1 @ w_hat + c * w_hat @ M2 @ w_hat
    assert t_star == pytest.approx(a * (r @ w_hat) / den, rel=1e-12)
    null = rbar[n, n] * np.trace(sigma) + s2
    assert L_star == pytest.approx(null - (a * (r @ w_hat)) ** 2 / den, rel=1e-12)
    rng = np.random.default_rng(100 + seed)
    f = lambda v: L(sigma, rbar, v[: d * d].reshape(d, d), v[d * d :], s2)  # noqa: E731
    best = min(
        scipy.optimize.minimize(f, rng.normal(size=d * d + n) * 0.3, method="BFGS").fun for _ in range(3)
    )
    assert L_star <= best + 1e-7 * null


def test_optimal_scale_minimises_along_the_ray():
    sigma, rbar, P, w, s2 = instance(2, 3, 5)
    t_star, L_star = compiled_optimal_scale()(sigma, rbar, P, w, s2)
    L = compile_trace_risk()
    assert L(sigma, rbar, t_star * P, w, s2) == pytest.approx(L_star, rel=1e-12)
    for dt in (-0.1, 0.1):
        assert L(sigma, rbar, (t_star + dt * abs(t_star)) * P, w, s2) > L_star
