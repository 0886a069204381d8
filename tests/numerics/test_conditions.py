"""Condition checker: gap definitions, the sufficient condition, verdicts and Assumption 3."""

import numpy as np
import pytest

from wpgd.numerics.core.conditions import check_conditions
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.secular import gap_delta
from wpgd.proofs_check.optimum_cases import three_fixed_points_problem
from wpgd.proofs_check.random_problems import random_problem


def test_gap_delta_definition():
    assert gap_delta(1.0, 1.0) == 0.0
    assert gap_delta(1.0, 9.0) == pytest.approx(0.5)
    assert gap_delta(2.0, 2e6) == pytest.approx(np.tanh(0.25 * np.log(1e6)))


@pytest.mark.parametrize("seed", range(8))
def test_gap_condition_implies_unique_fixed_point_and_bounds_contraction(seed):
    rng = np.random.default_rng(seed)
    pr = random_problem(rng, int(rng.integers(2, 6)), segments=[3, 4, 5], condition=float(np.exp(rng.uniform(0, 6))))
    rep = check_conditions(pr)
    prod = rep["gap_condition"].value
    kappa = rep["contraction"].value
    assert kappa <= 4 * prod**2 * (1 + 1e-9) + 1e-14  # the derived bound holds
    assert kappa <= rep["localized_gap_condition"].value * (1 + 1e-9) + 1e-14
    if rep["gap_condition"].holds:
        assert rep["fixed_points"].holds and kappa < 1 and rep.verdict == "condition"


def test_counterexample_report():
    rep = check_conditions(three_fixed_points_problem(1.0))
    assert not rep["gap_condition"].holds and not rep["localized_gap_condition"].holds
    assert not rep["contraction"].holds and not rep["fixed_points"].holds
    assert rep.verdict == "multiple fixed points" and not rep["uniqueness"].holds


def test_assumption3_ordering():
    sig = np.diag([1.0, 2.0, 3.0])
    fwd = check_conditions(Problem.segmented(sig, [10, 10], [0.2, 0.8], noise=0.1))
    rev = check_conditions(Problem.segmented(sig, [10, 10], [0.8, 0.2], noise=0.1))
    assert fwd["assumption3"].holds and fwd["assumption3"].margin > 0 and fwd["ordering"].holds
    assert not rev["assumption3"].holds and rev["assumption3"].margin < 0


def test_singular_sigma_and_dropped_tokens_are_reported():
    pr = Problem.segmented(np.diag([0.0, 1.0, 2.0]), [2, 3], [0.5, 0.0], np.diag([1.0, 0.0]), noise=0.0)
    rep = check_conditions(pr)
    assert not rep["sigma_pd"].holds and rep["sigma_pd"].margin == 0.0
    assert not rep["m2_pd"].holds and "3 token" in rep["m2_pd"].detail
    assert rep["gap_sigma"].value == pytest.approx(gap_delta(1.0, 2.0))


def test_degenerate_problem_verdict():
    rep = check_conditions(Problem.segmented(np.eye(2), [2], [0.0]))
    assert rep.verdict == "degenerate" and rep["uniqueness"].holds is None


def test_certificate_line():
    rep = check_conditions(Problem.segmented(np.diag([1.0, 4.0]), [3, 5], [0.3, 0.7], noise=0.1), certify_digits=30)
    assert rep["certificate"].holds and rep.to_dict()["certificate"]["certified"]
