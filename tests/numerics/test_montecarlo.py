"""Monte Carlo estimators: unbiased for the closed-form risk, honest standard errors, real power.

Every estimator must be an unbiased estimator of the same risk with a calibrated standard error:
over many seeds the z-scores (mean − closed form)/SE must look N(0, 1). Problems here have
negative query correlations and weights of both signs, so a sign error in either path would show.
"""

import numpy as np
import pytest

from wpgd.numerics import InvalidProblemError, Problem, monte_carlo_risk, risk, solve
from wpgd.numerics.core.montecarlo import ESTIMATOR_NAMES
from wpgd.proofs_check.random_problems import random_problem

ESTIMATORS = list(ESTIMATOR_NAMES)


def negative_segments():
    """Segments [4, 3] with negative query correlations c = (−0.2, −0.8) and correlated segments."""
    sig = np.diag([0.5, 1.0, 2.0])
    return Problem.segmented(sig, [4, 3], [-0.2, -0.8], [[1.0, 0.3], [0.3, 1.2]], query_variance=1.1, noise=0.2)


def negative_dense():
    rng = np.random.default_rng(3)
    pr = random_problem(rng, 2, n=4, condition=4.0)
    rbar = pr.task_matrix.copy()
    rbar[:-1, -1] *= -1.0  # flip the query's correlations: still PSD (a congruence by diag(1, …, 1, −1))
    rbar[-1, :-1] *= -1.0
    return Problem.dense(pr.sigma, rbar, pr.noise)


def pw(pr, seed):
    rng = np.random.default_rng(seed)
    P = (np.eye(pr.d) + 0.3 * rng.standard_normal((pr.d, pr.d))) / (pr.n * pr.trace_sigma) * pr.d
    w = rng.uniform(0.2, 1.5, pr.n) * rng.choice([-1.0, 1.0], pr.n)
    return P, w


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("make", [negative_segments, negative_dense], ids=["segments", "dense"])
def test_unbiased_with_calibrated_standard_error(make, estimator):
    """z-scores over 120 seeds: mean within 4/√120 of 0, standard deviation within 25% of 1."""
    pr = make()
    P, w = pw(pr, 0)
    exact = risk(pr, P, w)
    zs = np.array([monte_carlo_risk(pr, P, w, samples=2000, seed=s, estimator=estimator).z_score(exact)
                   for s in range(120)])
    assert abs(zs.mean()) <= 4.0 / np.sqrt(len(zs)), zs.mean()
    assert 0.75 <= zs.std(ddof=1) <= 1.25, zs.std(ddof=1)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_a_one_percent_error_is_detected(estimator):
    """Negative control: the same run rejects the closed form scaled by 1.01 for the strong estimators."""
    pr = negative_segments()
    P, w = pw(pr, 1)
    exact = risk(pr, P, w)
    mc = monte_carlo_risk(pr, P, w, samples=200_000, seed=11, estimator=estimator)
    assert abs(mc.z_score(exact)) <= 4.5
    if estimator == "conditional":
        assert mc.relative_stderr < 2e-3
        assert abs(mc.z_score(1.01 * exact)) > 4.5 and abs(mc.z_score(0.99 * exact)) > 4.5


def test_conditioning_reduces_variance_at_the_two_segment_optimum():
    """At the optimum of the d = 10, n = 40 two-segment example, the standard errors order as
    conditional < query < plain, and the conditional one is ≤ 0.05% at 10⁶ prompts (scaled from 20k)."""
    pr = Problem.segmented(np.eye(10), [20, 20], [0.2, 0.8], noise=0.1)
    opt = solve(pr)
    res = {e: monte_carlo_risk(pr, opt.P, opt.omega, samples=20_000, seed=5, estimator=e) for e in ESTIMATORS}
    for e, mc in res.items():
        assert abs(mc.z_score(opt.risk)) <= 4.5, e
    assert res["conditional"].stderr < 0.3 * res["query"].stderr < 0.3 * res["plain"].stderr
    # relative SE at 10⁶ prompts = (relative SE at 2·10⁴)·√(2·10⁴/10⁶)
    assert res["conditional"].relative_stderr * np.sqrt(20_000 / 1_000_000) <= 5e-4


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_torch_backend_agrees(estimator):
    pytest.importorskip("torch")
    pr = negative_segments()
    P, w = pw(pr, 2)
    mc = monte_carlo_risk(pr, P, w, samples=20_000, seed=3, backend="torch", estimator=estimator)
    assert abs(mc.z_score(risk(pr, P, w))) <= 4.5 and mc.estimator == estimator


def test_exact_cases_have_zero_variance():
    """P = 0 predicts 0: the conditional estimator sees the exact risk r_q tr Σ + σ², with SE 0."""
    pr = negative_segments()
    mc = monte_carlo_risk(pr, np.zeros((3, 3)), samples=50, estimator="conditional")
    assert mc.mean == pytest.approx(pr.null_risk, rel=1e-14) and mc.stderr == 0.0


def test_result_reports_relative_error_and_estimator():
    pr = negative_segments()
    mc = monte_carlo_risk(pr, samples=1000, seed=1, estimator="query")
    d = mc.to_dict(reference=risk(pr))
    assert d["estimator"] == "query" and d["relative_stderr"] == pytest.approx(mc.stderr / mc.mean)
    assert d["z_score"] == pytest.approx((mc.mean - risk(pr)) / mc.stderr)
    assert "z_score" not in mc.to_dict()
    with pytest.raises(InvalidProblemError, match="estimator"):
        monte_carlo_risk(pr, samples=10, estimator="antithetic")


@pytest.mark.slow
def test_verify_check_passes_and_its_negative_control_fails():
    """risk.closed_form_vs_monte_carlo passes on the true formula and rejects 1%-wrong and D_R-less ones."""
    from wpgd.proofs_check.runner import registered_checks

    chk = next(c for c in registered_checks() if c.name == "risk.closed_form_vs_monte_carlo")
    ev = chk.func(True)
    assert ev.passed, ev.evidence
    assert max(ev.data["relative_stderr"]) <= 3.5e-3
    control = chk.control(True)
    assert not control.passed and control.data["accepted"] == [], control.evidence
