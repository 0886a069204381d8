"""High-precision solve (mpmath) and the interval certificate (mpmath.iv)."""

import numpy as np
import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.solver import solve
from wpgd.numerics.exact.certificate import certify
from wpgd.numerics.exact.highprec import solve_highprec
from wpgd.proofs_check.random_problems import random_orthogonal, random_problem, spd_from_spectrum


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("kappa", [1e3, 1e12])
def test_float64_matches_50_digits_on_ill_conditioned_sigma(kappa):
    rng = np.random.default_rng(int(np.log10(kappa)))
    sig = spd_from_spectrum(np.geomspace(1 / kappa, 1.0, 5), random_orthogonal(rng, 5))
    C = np.array([[1.0, 0.3, 0.1], [0.3, 0.5, 0.1], [0.1, 0.1, 0.05]])
    pr = Problem.segmented(sig, [3, 4, 2], [0.4, 0.3, 0.1], C, query_variance=1.0, noise=1e-10)
    opt = solve(pr)
    hp = solve_highprec(pr, 50, float_optimum=opt)
    assert hp.precision == "mpmath:50" and len(hp.details["risk"]) > 45
    assert abs(opt.risk - hp.risk) <= 1e-13 * hp.risk
    assert rel(opt.omega, hp.omega) < 1e-12 and rel(opt.P, hp.P) < 1e-12
    assert hp.details["eigen_residual"] < 1e-45


def test_dense_and_structured_high_precision_agree():
    rng = np.random.default_rng(1)
    pr = random_problem(rng, 3, segments=[2, 3, 2], condition=100.0)
    a = solve_highprec(pr, 40)
    b = solve_highprec(pr.as_dense(), 40)
    assert a.details["risk"][:35] == b.details["risk"][:35]


def test_certificate_succeeds_and_encloses_the_float_root():
    rng = np.random.default_rng(2)
    pr = random_problem(rng, 4, n=6, condition=1e4)
    opt = solve(pr)
    cert = certify(pr, 30)
    assert cert.certified, cert.reason
    a, b = cert.enclosure
    assert a <= opt.gamma <= b and (b - a) <= 1e-8 * b
    assert cert.contraction_bound >= opt.contraction * (1 - 1e-9)  # a bound is not below the value
    lo, hi = cert.invariant_interval
    assert lo <= a and b <= hi


def test_certificate_fails_honestly_on_three_fixed_points():
    from wpgd.proofs_check.optimum_cases import three_fixed_points_problem

    cert = certify(three_fixed_points_problem(1.0), 30, max_cells=300)
    assert not cert.certified and cert.reason and cert.contraction_bound > 1


def test_input_validation():
    pr = Problem.segmented(np.eye(2), [2], [0.5])
    with pytest.raises(InvalidProblemError, match="≥ 20"):
        solve_highprec(pr, 10)
    big = Problem.segmented(np.eye(90) + 0.01, [2], [0.5])
    with pytest.raises(InvalidProblemError, match="d ≤"):
        solve_highprec(big, 30)


def test_degenerate_problem_passes_through():
    pr = Problem.segmented(np.eye(2), [2, 2], [0.0, 0.0])
    hp = solve_highprec(pr, 30)
    assert hp.degenerate and hp.precision == "mpmath:30"


def test_solve_then_certify_is_orchestrated_by_the_api():
    from wpgd.numerics.core.api import solve_problem

    pr = Problem.segmented(np.diag([1.0, 5.0]), [3, 4], [0.3, 0.6], noise=0.1)
    assert "certified" not in solve(pr).to_dict()  # the core solve knows nothing of certificates
    assert solve_problem(pr).to_dict()["certified"] is None
    rep = solve_problem(pr, certify=True, backend="mpmath")
    d = rep.to_dict()
    assert d["certified"] is True and d["certificate"]["backend"] == "mpmath"
    assert d["certificate"]["status"] == "unique"
    lo, hi = rep.certificate.enclosure
    assert lo <= rep.result.gamma <= hi


def test_high_precision_finds_the_fixed_points_itself():
    """The 50-digit path scans for its own roots: a float64 optimum with wrong roots, slopes and flags
    handed to it changes nothing (it is used only for the degenerate / dense-or-segments decisions)."""
    from dataclasses import replace

    from wpgd.proofs_check.optimum_cases import three_fixed_points_problem

    pr = three_fixed_points_problem(1.0)
    opt = solve(pr)
    wrong = replace(opt, fixed_points=(opt.fixed_points[0],), fixed_point_slopes=(0.5,), contraction=0.1,
                    converged=False, unresolved=((1.0, 2.0),), invariant_interval=(1.0, 2.0))
    hp = solve_highprec(pr, 50, float_optimum=wrong)
    assert hp.details["root_finding"] == "own mpmath scan"
    assert len(hp.fixed_points) == 3 and hp.unresolved == () and hp.converged
    np.testing.assert_allclose(hp.fixed_points, opt.fixed_points, rtol=1e-12)
    np.testing.assert_allclose(hp.fixed_point_slopes, opt.fixed_point_slopes, rtol=1e-12)
    assert hp.contraction == pytest.approx(opt.contraction, rel=1e-9)
    np.testing.assert_allclose(hp.invariant_interval, opt.invariant_interval, rtol=1e-13)
    assert hp.gamma == pytest.approx(opt.fixed_points[2], rel=1e-12)  # the lower of the two minima
    assert hp.details["fixed_point_residual"] < 1e-45
