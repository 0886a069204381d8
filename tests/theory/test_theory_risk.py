"""The derived WPGD risk: explicit vs trace form, compiled vs direct NumPy, vs Monte Carlo."""

import numpy as np
import pytest
import sympy as sp

from wpgd.theory import (
    check_explicit_equals_trace,
    compile_trace_risk,
    explicit_minus_trace,
    explicit_risk,
    trace_form_risk,
)


def random_instance(d, n, rng, noise=0.3):
    """Random Σ ≻ 0 (d×d), R̄ ⪰ 0 ((n+1)×(n+1)), P (d×d, not symmetric), ω (n,), σ²."""
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    sigma = A @ A.T + 0.2 * np.eye(d)
    B = rng.normal(size=(n + 1, n + 1))
    rbar = B @ B.T / (n + 1) + 0.1 * np.eye(n + 1)
    return sigma, rbar, rng.normal(size=(d, d)), rng.normal(size=n), noise


def theory_md_formula(sigma, rbar, P, omega, sigma2):
    """docs/theory.md §4, typed in here only as the reference the derivation is compared with."""
    n = len(omega)
    R, r, r_q = rbar[:n, :n], rbar[:n, n], rbar[n, n]
    D = np.diag(np.diag(R))
    s2 = sigma @ sigma
    a = np.trace(P @ s2)
    b = np.trace(P.T @ sigma @ P @ s2)
    c = np.trace(P.T @ sigma @ P @ sigma)
    M1 = R + D
    M2 = np.trace(sigma) * D + sigma2 * np.eye(n)
    return r_q * np.trace(sigma) + sigma2 - 2 * a * (r @ omega) + b * omega @ M1 @ omega + c * omega @ M2 @ omega


def test_trace_form_contains_only_the_expected_symbols():
    expr, T = trace_form_risk()
    syms = {T.Sigma, T.P, T.R, T.D_R, T.r, T.omega, T.r_q, T.sigma2}
    found = expr.atoms(sp.MatrixSymbol) | (expr.free_symbols - expr.atoms(sp.MatrixSymbol))
    assert found <= syms | {T.d, T.n}
    assert T.d not in expr.free_symbols and T.n not in expr.free_symbols
    assert len(sp.Add.make_args(expr)) == 7


@pytest.mark.parametrize("d,n", [(1, 1), (1, 3), (2, 1), (2, 2), (3, 2), (3, 3)])
def test_explicit_equals_trace_form(d, n):
    assert explicit_minus_trace(d, n) == 0


@pytest.mark.parametrize("d,n,par", [(2, 2, "factor"), (2, 2, "latent"), (2, 1, "latent"), (1, 2, "latent")])
def test_explicit_equals_trace_form_through_the_factor(d, n, par):
    assert check_explicit_equals_trace(d, n, par)


def test_expand_method_agrees():
    assert explicit_minus_trace(2, 2, method="expand") == 0


def test_a_perturbed_trace_form_is_detected():
    expr, S = explicit_risk(2, 2)
    wrong = expr + S.P[0, 1] * S.omega[0] * S.Sigma[0, 0]
    from wpgd.theory.risk import trace_form_at

    assert sp.expand(wrong - trace_form_at(2, 2)) != 0


@pytest.mark.parametrize("seed", range(5))
def test_compiled_trace_risk_matches_direct_numpy(seed):
    rng = np.random.default_rng(seed)
    d, n = int(rng.integers(1, 5)), int(rng.integers(1, 7))
    inst = random_instance(d, n, rng)
    got = compile_trace_risk()(*inst)
    ref = theory_md_formula(*inst)
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("par", ["covariance", "factor"])
def test_explicit_numeric_matches_compiled(par):
    rng = np.random.default_rng(11)
    d, n = 2, 3
    sigma, rbar, P, omega, s2 = random_instance(d, n, rng)
    expr, S = explicit_risk(d, n, par)
    first = sigma if par == "covariance" else np.linalg.cholesky(sigma)
    got = S.lambdify(expr, par)(first, rbar, P, omega, s2)
    assert got == pytest.approx(compile_trace_risk()(sigma, rbar, P, omega, s2), rel=1e-12)


def test_scale_invariance():
    rng = np.random.default_rng(3)
    inst = list(random_instance(3, 4, rng))
    f = compile_trace_risk()
    base = f(*inst)
    for t in (-2.0, 0.5, 3.0):
        scaled = inst.copy()
        scaled[2], scaled[3] = t * inst[2], inst[3] / t
        assert f(*scaled) == pytest.approx(base, rel=1e-12)


def monte_carlo(sigma, rbar, P, omega, sigma2, rng, samples, chunk=50_000):
    """Direct simulation of (ŷ − y)²: returns (mean, standard error)."""
    d, n = sigma.shape[0], len(omega)
    Ls, Lr = np.linalg.cholesky(sigma), np.linalg.cholesky(rbar)
    vals = []
    for _ in range(samples // chunk):
        x = rng.normal(size=(chunk, n + 1, d)) @ Ls.T
        beta = np.einsum("st,mtd->msd", Lr, rng.normal(size=(chunk, n + 1, d)))
        y = np.einsum("msd,msd->ms", x, beta) + np.sqrt(sigma2) * rng.normal(size=(chunk, n + 1))
        xq, X, yc = x[:, n], x[:, :n], y[:, :n]
        y_hat = np.einsum("ma,ab,mib,mi->m", xq, P, X, omega * yc)
        vals.append((y_hat - y[:, n]) ** 2)
    v = np.concatenate(vals)
    return v.mean(), v.std(ddof=1) / np.sqrt(v.size)


@pytest.mark.parametrize("d,n,seed", [(2, 3, 0), (3, 2, 1)])
def test_trace_risk_matches_monte_carlo(d, n, seed):
    rng = np.random.default_rng(seed)
    sigma, rbar, P, omega, s2 = random_instance(d, n, rng)
    P = P * 0.3
    exact = compile_trace_risk()(sigma, rbar, P, omega, s2)
    mean, se = monte_carlo(sigma, rbar, P, omega, s2, rng, 300_000)
    assert abs(mean - exact) / se < 5, (exact, mean, se)


def test_rejects_bad_sizes():
    with pytest.raises(ValueError):
        explicit_risk(0, 2)
    with pytest.raises(ValueError):
        explicit_risk(2, 2, "nope")
