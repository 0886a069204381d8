"""The optimum: structured == dense, closed forms, BFGS reference, degenerate and singular inputs."""

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from wpgd.numerics import DegenerateProblemError  # noqa: F401  (public error type stays importable)
from wpgd.numerics.core.descent import multistart_bfgs, risk_and_grad
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.risk import risk
from wpgd.numerics.core.solver import Optimum, solve
from wpgd.numerics.core.spectra import task_spectrum
from wpgd.proofs_check.optimum_cases import three_fixed_points_problem, tie_noise
from wpgd.proofs_check.random_problems import random_problem
from wpgd.proofs_check.strategies import problems


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))


@given(problems(dim=st.integers(1, 4)))  # examples per the settings profile (ci 30, thorough 500)
@example(Problem.segmented(np.diag([1.0, 2.0]), [1], [0.6], noise=0.1))  # n = 1
@example(Problem.dense([[1.5]], [[1.0, -0.5], [-0.5, 2.0]], 0.0))  # d = n = 1, σ² = 0, r < 0
@example(Problem.segmented(np.eye(3), [10, 10], [-0.2, -0.8], noise=0.1))  # negative correlations
def test_solution_is_stationary_and_risk_matches_closed_form(pr):
    opt = solve(pr)
    if opt.degenerate is not None:
        assert opt.risk == pr.null_risk and not np.any(opt.omega)
        return
    assert opt.converged, opt.residuals
    assert opt.risk == pytest.approx(risk(pr, opt.P, opt.omega), rel=1e-11, abs=1e-13 * pr.null_risk)
    assert np.max(np.abs(opt.omega)) == pytest.approx(1.0, rel=1e-15)
    assert opt.risk <= pr.null_risk * (1 + 1e-12)
    # Gradient of the closed form at (P*, ω*) vanishes relative to its scale.
    g = risk_and_grad(pr, np.concatenate([opt.P.ravel(), opt.omega]))[1]
    g0 = risk_and_grad(pr, np.concatenate([2 * opt.P.ravel(), opt.omega]))[1]
    assert np.linalg.norm(g) <= 1e-9 * np.linalg.norm(g0)


@pytest.mark.parametrize("seed", range(6))
def test_structured_path_equals_dense_path(seed):
    rng = np.random.default_rng(seed)
    segs = [int(s) for s in rng.integers(1, 25, size=int(rng.integers(1, 6)))]
    pr = random_problem(rng, int(rng.integers(1, 6)), segments=segs, condition=float(np.exp(rng.uniform(0, 9))),
                        noise=0.0 if seed % 2 else None)
    a, b = solve(pr), solve(pr, structured=False)
    assert a.method == "segments" and b.method == "dense"
    assert a.risk == pytest.approx(b.risk, rel=1e-12)
    assert a.gamma == pytest.approx(b.gamma, rel=1e-10)
    assert rel(a.omega, b.omega) < 1e-10 and rel(a.P, b.P) < 1e-10
    assert a.residuals["grad_omega"] < 1e-12 and b.residuals["grad_omega"] < 1e-12


def test_isotropic_closed_form():
    """Σ = I_d, D_R = I: μ = 1, ω* ∝ (R + (d + 1 + σ²) I)^-1 r (docs/theory.md §5)."""
    rng = np.random.default_rng(1)
    d, n, noise = 4, 7, 0.3
    g = rng.standard_normal((n + 1, n + 3))
    rbar = g @ g.T
    dia = np.sqrt(np.diag(rbar))
    rbar = rbar / np.outer(dia, dia)
    pr = Problem.dense(np.eye(d), rbar, noise)
    opt = solve(pr)
    w = np.linalg.solve(rbar[:n, :n] + (d + 1 + noise) * np.eye(n), rbar[:n, n])
    assert opt.mu == pytest.approx(1.0, rel=1e-14)
    assert rel(opt.omega, w / np.max(np.abs(w)) * np.sign(w[np.argmax(np.abs(w))])) < 1e-12
    assert len(opt.fixed_points) == 1 and opt.contraction == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_multistart_bfgs(seed):
    rng = np.random.default_rng(10 + seed)
    pr = random_problem(rng, 3, n=5, condition=50.0)
    opt = solve(pr)
    runs = multistart_bfgs(pr, 6, seed=seed)
    best = min(r.risk for r in runs)
    assert abs(opt.risk - best) <= 1e-10 * abs(opt.risk)
    assert opt.risk <= best + 1e-12 * abs(best)


def test_zero_query_correlation_is_degenerate_not_nan():
    pr = Problem.segmented(np.diag([1.0, 2.0]), [3, 4], [0.0, 0.0], noise=0.1)
    opt = solve(pr)
    assert opt.degenerate is not None and "r = 0" in opt.degenerate
    assert opt.gamma is None and opt.mu is None and opt.fixed_points == ()
    assert opt.risk == pr.null_risk and opt.normalized_risk == 1.0
    assert np.all(opt.P == 0) and np.all(opt.omega == 0)
    d = opt.to_dict()
    assert d["gamma"] is None and d["degenerate"]


def test_zero_covariance_is_degenerate():
    pr = Problem.segmented(np.zeros((2, 2)), [3], [0.5], noise=0.2)
    opt = solve(pr)
    assert opt.degenerate is not None and "Σ = 0" in opt.degenerate
    assert opt.risk == pytest.approx(0.2)


def test_singular_sigma_restricts_to_range():
    """P* vanishes on null(Σ), and the answer equals the problem restricted to range(Σ)."""
    rng = np.random.default_rng(2)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    lam = np.array([0.0, 0.0, 1.0, 3.0])
    sig = (q * lam) @ q.T
    sig = 0.5 * (sig + sig.T)
    pr = Problem.segmented(sig, [3, 5], [0.4, 0.7], [[1.0, 0.2], [0.2, 1.5]], query_variance=1.0, noise=0.1)
    opt = solve(pr)
    null = q[:, :2]
    assert np.linalg.norm(opt.P @ null) < 1e-12 * np.linalg.norm(opt.P)
    small = Problem.segmented(np.diag([1.0, 3.0]), [3, 5], [0.4, 0.7], [[1.0, 0.2], [0.2, 1.5]], 1.0, 0.1)
    ref = solve(small)
    assert opt.risk == pytest.approx(ref.risk, rel=1e-12)
    assert opt.gamma == pytest.approx(ref.gamma, rel=1e-10)
    assert opt.details["rank_sigma"] == 2 and opt.converged


def test_zero_variance_segment_without_noise_is_dropped():
    """σ² = 0 and a segment with task variance 0: M2 singular, those tokens are dropped (ω = 0)."""
    C = np.diag([1.0, 0.0, 0.5])
    pr = Problem.segmented(np.diag([1.0, 2.0]), [3, 4, 2], [0.5, 0.0, 0.6], C, query_variance=2.0, noise=0.0)
    opt = solve(pr)
    assert opt.details["dropped_tokens"] == 4 and np.all(opt.omega[3:7] == 0)
    assert opt.converged and np.isfinite(opt.risk)
    dense = solve(pr, structured=False)
    assert dense.risk == pytest.approx(opt.risk, rel=1e-12) and rel(dense.omega, opt.omega) < 1e-10
    assert risk(pr, opt.P, opt.omega) == pytest.approx(opt.risk, rel=1e-12)


def test_dense_problem_with_unit_free_variances_generalised_eigenproblem():
    """Task variances ≠ 1: the generalised eigenvectors are M2-orthonormal and reproduce ω(μ)."""
    rng = np.random.default_rng(4)
    pr = random_problem(rng, 3, n=6, condition=10.0)
    ts = task_spectrum(pr)
    V = ts.basis
    np.testing.assert_allclose(V.T @ (pr.m2_diag[:, None] * V), np.eye(V.shape[1]), atol=1e-12)
    np.testing.assert_allclose(V.T @ pr.m1_matrix() @ V, np.diag(ts.rho), atol=1e-12)
    mu = 0.7
    np.testing.assert_allclose(ts.weights(mu), np.linalg.solve(pr.m1_matrix() + mu * np.diag(pr.m2_diag), pr.r),
                               rtol=1e-11)


def test_three_fixed_points_are_all_found_and_the_lowest_risk_returned():
    pr = three_fixed_points_problem(1.0)
    opt = solve(pr)
    assert len(opt.fixed_points) == 3 and not opt.unique
    s = opt.fixed_point_slopes
    assert s[0] < 1 < s[1] and s[2] < 1  # attracting, repelling, attracting
    assert opt.risk == min(opt.fixed_point_risks) and opt.gamma == opt.fixed_points[2]
    assert opt.contraction > 1
    assert opt.residuals["grad_P"] < 1e-12 and opt.residuals["grad_omega"] < 1e-12


def test_tie_gives_two_global_minimisers():
    s2 = tie_noise()
    opt = solve(three_fixed_points_problem(s2))
    r = opt.fixed_point_risks
    assert abs(r[0] - r[2]) <= 1e-12 * r[0] and r[1] > r[0]
    assert opt.fixed_points[2] / opt.fixed_points[0] > 5


def test_optimum_dataclass_contract():
    opt = solve(Problem.segmented(np.eye(2), [2, 3], [0.3, 0.6], noise=0.1))
    assert isinstance(opt, Optimum)
    with pytest.raises(AttributeError):
        opt.risk = 0.0  # frozen
    d = opt.to_dict()
    for key in ("risk", "normalized_risk", "gamma", "mu", "scale", "fixed_points", "residuals", "iterations",
                "status", "converged", "message", "degenerate"):
        assert key in d
    assert "omega" not in d and "omega" in opt.to_dict(arrays=True)


@pytest.mark.slow
def test_million_token_segment_problem_scales():
    import time

    sizes = [250_000] * 4
    sig = np.diag(np.linspace(0.5, 2.0, 8))
    C = 0.3 + 0.7 * np.eye(4)
    pr = Problem.segmented(sig, sizes, [0.2, 0.4, 0.6, 0.8], C, query_variance=2.0, noise=0.1)
    t0 = time.perf_counter()
    opt = solve(pr)
    elapsed = time.perf_counter() - t0
    assert opt.omega.shape == (1_000_000,) and opt.converged
    assert elapsed < 10.0
    small = Problem.segmented(sig, [s // 50_000 for s in sizes], [0.2, 0.4, 0.6, 0.8], C, 2.0, 0.1)
    assert solve(small).risk != opt.risk  # n enters the optimum
    # ω* constant within segments, increasing toward the query here.
    starts = np.cumsum([0] + sizes[:-1])
    lv = opt.omega[starts]
    assert np.all(np.diff(lv) > 0)
    for k, s in enumerate(starts):
        assert np.all(opt.omega[s:s + sizes[k]] == lv[k])


@pytest.mark.slow
def test_against_theory_stationarity_maps():
    import wpgd.theory.stationarity as stat  # an ImportError in our own wpgd/theory/ is a failure, not a skip
    P_given_omega, omega_given_P = stat.compiled_stationary_maps()
    scale = stat.compiled_optimal_scale()
    rng = np.random.default_rng(5)
    for i in range(3):
        pr = random_problem(rng, 3, n=5, condition=20.0) if i % 2 == 0 else random_problem(
            rng, 2, segments=[2, 3], condition=5.0)
        opt = solve(pr)
        rbar = pr.dense_task_matrix()
        assert rel(P_given_omega(pr.sigma, rbar, opt.omega, pr.noise), opt.P) < 1e-10
        assert rel(omega_given_P(pr.sigma, rbar, opt.P, pr.noise), opt.omega) < 1e-10
        t, L = scale(pr.sigma, rbar, opt.P, opt.omega, pr.noise)
        assert t == pytest.approx(1.0, rel=1e-10) and L == pytest.approx(opt.risk, rel=1e-11)
