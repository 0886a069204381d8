"""Class optima (linear / geometric / scalar / vector / unconstrained) against brute force."""

import numpy as np
import pytest
from scipy.optimize import minimize

from wpgd.numerics.core.classes import (
    CLASSES,
    class_optima,
    class_optimum,
    compare_classes,
    geometric_weights,
    is_monotone,
)
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.risk import risk
from wpgd.numerics.core.weighting import best_for_weights, cone_optimum, cone_weights
from wpgd.proofs_check.random_problems import random_problem


def _experiment(c):
    return Problem.segmented(np.eye(5), [10, 10], c, noise=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_weight_closed_form_is_the_minimum_over_p(seed):
    rng = np.random.default_rng(seed)
    pr = random_problem(rng, 3, n=5)
    omega = rng.standard_normal(5)
    best = best_for_weights(pr, omega)
    assert risk(pr, best.P, omega) == pytest.approx(best.risk, rel=1e-12, abs=1e-12)
    res = minimize(lambda p: risk(pr, p.reshape(3, 3), omega), np.zeros(9), method="BFGS", options={"gtol": 1e-12})
    assert res.fun == pytest.approx(best.risk, rel=1e-8)
    assert np.allclose(res.x.reshape(3, 3), best.P, atol=1e-5)


def test_rank_limited_closed_form_beats_random_factorisations():
    rng = np.random.default_rng(3)
    pr = random_problem(rng, 4, n=6, condition=20.0)
    omega = rng.standard_normal(6)
    best = best_for_weights(pr, omega, rank=2)
    assert np.linalg.matrix_rank(best.P, tol=1e-10) == 2
    assert risk(pr, best.P, omega) == pytest.approx(best.risk, rel=1e-12)

    def f(v):
        a, b = v[:8].reshape(4, 2), v[8:].reshape(4, 2)
        return risk(pr, a @ b.T, omega)

    found = min(minimize(f, rng.standard_normal(16), method="BFGS").fun for _ in range(4))
    assert found >= best.risk - 1e-9
    assert found == pytest.approx(best.risk, rel=1e-6)
    assert best_for_weights(pr, omega, rank=4).risk < best.risk


@pytest.mark.parametrize("c", [[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]])
def test_two_segment_scalar_optimum_by_brute_force(c):
    pr = Problem.segmented(np.diag([0.5, 1.0, 2.0]), [6, 9], c, noise=0.2)
    opt = class_optimum(pr, "scalar")
    a = np.linspace(0.0, 1.0, 2001)  # w = (a, 1), 0 ≤ a ≤ 1, covers the cone up to scale
    brute = min(best_for_weights(pr, pr.segment_index.choose([ai, 1.0])).risk for ai in a)
    assert opt.risk <= brute + 1e-12
    assert opt.risk == pytest.approx(brute, rel=1e-6)


def test_three_segment_scalar_optimum_by_brute_force():
    rng = np.random.default_rng(5)
    pr = random_problem(rng, 3, segments=[3, 5, 4], condition=5.0)
    opt = class_optimum(pr, "scalar")
    a1, a2, b, _ = __import__("wpgd.numerics.core.weighting", fromlist=["reduced_system"]).reduced_system(pr)
    grid = np.linspace(0.0, 1.0, 121)
    brute = np.inf
    for sgn in (1.0, -1.0):
        for u in grid:
            for v in grid[grid >= u]:
                w = sgn * np.array([u, v, 1.0])
                brute = min(brute, best_for_weights(pr, w[pr.segment_index]).risk)
    assert opt.risk <= brute + 1e-12
    assert opt.risk == pytest.approx(brute, rel=1e-4)
    assert is_monotone(opt.omega)


def test_dense_scalar_optimum_by_multistart_search():
    rng = np.random.default_rng(7)
    pr = random_problem(rng, 2, n=4, condition=8.0)
    opt = class_optimum(pr, "scalar")

    def f(v):  # ω = ±cumsum(softplus(v)), both signs
        return best_for_weights(pr, np.cumsum(np.logaddexp(0.0, v))).risk

    found = min(minimize(f, rng.standard_normal(4) * 3, method="Nelder-Mead",
                         options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000}).fun for _ in range(6))
    assert opt.risk <= found + 1e-10
    assert opt.risk == pytest.approx(found, rel=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_ordering_of_classes_on_random_problems(seed):
    rng = np.random.default_rng(100 + seed)
    pr = random_problem(rng, 3, segments=list(rng.integers(1, 8, size=3)), condition=10.0)
    opt = class_optima(pr)
    tol = 1e-10 * pr.null_risk
    assert opt["linear"].risk >= opt["geometric"].risk - tol
    assert opt["geometric"].risk >= opt["scalar"].risk - tol
    assert opt["scalar"].risk >= opt["unconstrained"].risk - tol
    assert opt["vector"].risk == pytest.approx(opt["unconstrained"].risk, rel=1e-8)
    for o in opt.values():  # every reported (P, ω) pair attains its reported risk
        assert risk(pr, o.P, o.omega) == pytest.approx(o.risk, rel=1e-9)


def test_segment_and_dense_forms_agree():
    rng = np.random.default_rng(11)
    pr = random_problem(rng, 2, segments=[2, 3], condition=4.0)
    for c in ("linear", "geometric", "scalar"):
        assert class_optimum(pr, c).risk == pytest.approx(class_optimum(pr.as_dense(), c).risk, rel=1e-7)
    w_free = cone_optimum(pr.as_dense(), "free")[0].risk
    assert cone_optimum(pr, "free")[0].risk == pytest.approx(w_free, rel=1e-9)


def test_experiment_setting():
    rev, fwd = _experiment([0.8, 0.2]), _experiment([0.2, 0.8])
    r = {c: class_optimum(rev, c).normalized_risk for c in CLASSES}
    f = {c: class_optimum(fwd, c).normalized_risk for c in CLASSES}
    # more correlated segment far from the query: scalar gating collapses to linear attention
    assert r["scalar"] == pytest.approx(r["linear"], abs=1e-12)
    assert r["unconstrained"] < r["scalar"] - 0.1
    assert r["unconstrained"] == pytest.approx(0.586, abs=5e-4)  # the trained reference
    # more correlated segment near the query: scalar gating reaches the WPGD optimum
    assert f["scalar"] == pytest.approx(f["unconstrained"], rel=1e-9)
    assert f["linear"] > f["geometric"] > f["scalar"]
    # vector gating: d+2 = 7 channels stay at linear attention, 2d = 10 reach the optimum
    assert class_optimum(rev, "vector", key_width=7).normalized_risk == pytest.approx(r["linear"], abs=1e-12)
    assert class_optimum(rev, "vector", key_width=10).normalized_risk == pytest.approx(r["unconstrained"], rel=1e-9)
    assert class_optimum(rev, "vector", key_width=9).normalized_risk > r["unconstrained"] + 1e-3


def test_compare_report_and_errors():
    rep = compare_classes(_experiment([0.8, 0.2]))
    assert rep["scalar_reaches_unconstrained"] is False
    assert rep["gaps"]["linear_minus_scalar"] == pytest.approx(0.0, abs=1e-12)
    assert rep["gaps"]["linear_minus_unconstrained"] > 0.1
    assert "reference line" in rep["classes"]["geometric"]["label"]
    assert compare_classes(_experiment([0.2, 0.8]))["scalar_reaches_unconstrained"] is True
    with pytest.raises(InvalidProblemError):
        class_optimum(_experiment([0.2, 0.8]), "matrix")
    with pytest.raises(InvalidProblemError):
        class_optimum(_experiment([0.2, 0.8]), "scalar", key_width=3)


def test_geometric_weights_and_large_n_stays_linear_time():
    w = geometric_weights(5, 0.5)
    assert np.allclose(w, [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1])
    big = geometric_weights(200_000, 0.9)
    assert big[0] == 0.0 and big[-1] == 1.0
    pr = Problem.segmented(np.eye(3), [100_000, 100_000], [0.3, 0.9], noise=0.1)
    opt = class_optima(pr, ("linear", "scalar", "unconstrained"))
    assert opt["linear"].risk >= opt["scalar"].risk >= opt["unconstrained"].risk - 1e-12


def test_cone_weights_monotone_matches_free_when_feasible():
    a = np.array([[2.0, 0.3], [0.3, 1.0]])
    b = np.array([0.5, 1.0])
    free = cone_weights(a, b, "free")
    assert free[0] <= free[1] and free[0] >= 0
    assert np.allclose(cone_weights(a, b, "monotone"), free, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_unconstrained_solver_agrees_with_independent_mu_search(seed):
    rng = np.random.default_rng(200 + seed)
    for pr in (random_problem(rng, 3, segments=[4, 2, 5], condition=30.0), random_problem(rng, 2, n=6)):
        mine = cone_optimum(pr, "free")[0].risk
        assert class_optimum(pr, "unconstrained").risk == pytest.approx(mine, rel=1e-9)


def test_gating_checks_pass_in_quick_mode():
    from wpgd.proofs_check.runner import run_checks

    results = run_checks(quick=True, select=["gating."])
    assert len(results) == 8
    assert all(r.status == "PASS" for r in results), [(r.name, r.evidence) for r in results]


@pytest.mark.parametrize("c", [[0.1, 0.4, 0.9], [0.3, 0.3, 0.5], [0.5, 0.2, 0.9], [0.9, 0.5, 0.1]])
def test_assumption3_equal_segments_independent_tasks(c):
    """C = I, equal sizes: scalar gating reaches the optimum iff c is non-decreasing toward the query."""
    pr = Problem.segmented(np.diag([0.5, 1.0, 1.5]), [6, 6, 6], c, query_variance=2.0, noise=0.2)
    opt = class_optima(pr, ("scalar", "unconstrained"))
    w = np.asarray(opt["unconstrained"].details["segment_weights"])
    assert np.allclose(w / w[-1], np.asarray(c) / c[-1], rtol=1e-8)  # w* ∝ c
    reaches = opt["scalar"].risk <= opt["unconstrained"].risk * (1 + 1e-10)
    assert reaches == bool(np.all(np.diff(c) >= 0))
