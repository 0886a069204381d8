"""Stationary points (Theorem 2): enumeration, reduced vs dense Hessian inertia, membership test."""

import numpy as np
import pytest

from wpgd.numerics.core.descent import multistart_stationary, risk_and_grad, risk_hessian
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.solver import solve
from wpgd.numerics.core.stationary import classify, membership
from wpgd.proofs_check.random_problems import random_problem


def dense_inertia(pr, P, omega):
    h = np.linalg.eigvalsh(risk_hessian(pr, np.concatenate([P.ravel(), omega])))
    tol = 1e-9 * np.max(np.abs(h))
    return int(np.sum(h > tol)), int(np.sum(h < -tol)), int(np.sum(np.abs(h) <= tol))


CASES = {
    "dense": lambda rng: random_problem(rng, 3, n=4, condition=20.0),
    "segments": lambda rng: random_problem(rng, 2, segments=[2, 3, 1], condition=5.0),
    "one segment": lambda rng: Problem.segmented(np.diag([1.0, 3.0]), [3], [0.6], noise=0.1),
    "singular sigma": lambda rng: Problem.segmented(np.diag([0.0, 1.0, 2.0]), [2, 2], [0.3, 0.8], noise=0.2),
    "dropped tokens": lambda rng: Problem.segmented(np.diag([1.0, 2.0]), [2, 2, 1], [0.5, 0.0, 0.4],
                                                    np.diag([1.0, 0.0, 1.0]), query_variance=2.0, noise=0.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_representatives_are_stationary_and_inertia_matches_dense_hessian(case):
    pr = CASES[case](np.random.default_rng(0))
    opt = solve(pr)
    points = classify(pr, opt)
    kinds = [sp.kind for sp in points]
    assert kinds[0] == "origin" and kinds.count("ray") == len(opt.fixed_points) == 1
    for sp in points:
        th = np.concatenate([sp.P.ravel(), sp.omega])
        L, g = risk_and_grad(pr, th)
        assert np.linalg.norm(g) <= 1e-12 * max(1.0, np.linalg.norm(risk_and_grad(pr, 2 * th)[1]))
        assert L == pytest.approx(sp.risk, rel=1e-12)
        assert dense_inertia(pr, sp.P, sp.omega) == sp.inertia, sp.kind
        assert sp.type == ("minimum" if sp.kind == "ray" else "saddle")
    ray = points[-1]
    assert ray.global_min and ray.inertia[2] == ray.expected_zeros  # only symmetry zeros


def test_levenberg_marquardt_endpoints_lie_in_predicted_set():
    rng = np.random.default_rng(3)
    pr = random_problem(rng, 2, n=4, condition=10.0)
    opt = solve(pr)
    kinds = set()
    for run in multistart_stationary(pr, 8, seed=1):
        if run.relative_grad < 1e-10:
            name, res = membership(pr, run.P, run.omega, opt)
            assert res < 1e-6, (name, res)
            kinds.add(name.split(":")[0])
    assert "ray" in kinds and kinds & {"D1", "D2", "origin"}


def test_membership_rejects_non_stationary_points():
    rng = np.random.default_rng(4)
    pr = random_problem(rng, 3, n=5, condition=10.0)
    opt = solve(pr)
    assert membership(pr, 3.0 * opt.P, opt.omega, opt)[1] > 0.1  # wrong scale on the ray
    P = opt.P + 0.1 * np.linalg.norm(opt.P) * rng.standard_normal(opt.P.shape)
    assert membership(pr, P, opt.omega, opt)[1] > 1e-3
    assert membership(pr, 7.0 * opt.P, opt.omega / 7.0, opt)[1] < 1e-12  # scaling orbit


def test_counterexample_has_a_saddle_ray_between_two_minima():
    from wpgd.proofs_check.optimum_cases import three_fixed_points_problem

    pts = [sp for sp in classify(three_fixed_points_problem(1.0)) if sp.kind == "ray"]
    assert [sp.type for sp in pts] == ["minimum", "saddle", "minimum"]
    assert pts[1].inertia[1] == 1 and [sp.global_min for sp in pts] == [False, False, True]
