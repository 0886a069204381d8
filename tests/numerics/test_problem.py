"""Validation of problems: every bad input raises InvalidProblemError with a clear message."""

import numpy as np
import pytest
from hypothesis import given

from wpgd.numerics import InvalidProblemError, Problem
from wpgd.proofs_check.strategies import problems, segment_task_models, spd_covariances, task_correlations


def test_segment_quantities_match_dense_definition():
    c = np.array([[1.0, 0.3], [0.3, 2.0]])
    pr = Problem.segmented(np.eye(2), [2, 3], [0.2, 0.9], correlation=c, query_variance=1.5, noise=0.1)
    e = np.zeros((5, 2))
    e[:2, 0] = e[2:, 1] = 1.0
    rbar = pr.dense_task_matrix()
    np.testing.assert_allclose(rbar[:5, :5], e @ c @ e.T, rtol=0, atol=0)
    np.testing.assert_allclose(rbar[:5, 5], e @ [0.2, 0.9])
    assert rbar[5, 5] == 1.5
    np.testing.assert_allclose(pr.r, [0.2, 0.2, 0.9, 0.9, 0.9])
    np.testing.assert_allclose(pr.diag_r, [1, 1, 2, 2, 2])
    np.testing.assert_allclose(pr.m2_diag, 2 * np.array([1, 1, 2, 2, 2]) + 0.1)


@given(problems())
def test_structured_quadratic_forms_equal_dense(pr):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, pr.n))
    m1, m2 = pr.m1_matrix(), pr.m2_matrix()
    np.testing.assert_allclose(pr.quad_m1(w), np.einsum("bi,ij,bj->b", w, m1, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pr.quad_m2(w), np.einsum("bi,ij,bj->b", w, m2, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pr.r_dot(w), w @ pr.dense_task_matrix()[:-1, -1], rtol=1e-12, atol=1e-12)


@given(spd_covariances(), task_correlations())
def test_strategies_produce_valid_inputs(sigma, rbar):
    assert np.linalg.eigvalsh(sigma)[0] > 0
    assert np.linalg.eigvalsh(rbar)[0] > -1e-10
    Problem.dense(sigma, rbar)


@given(segment_task_models())
def test_segment_models_are_valid(model):
    sizes, c, cvec, rq = model
    pr = Problem.segmented(np.eye(2), sizes, cvec, correlation=c, query_variance=rq)
    assert pr.n == sum(sizes)


BAD = [
    ("non-symmetric", lambda: Problem.dense([[1.0, 0.5], [0.0, 1.0]], np.eye(3)), "not symmetric"),
    ("indefinite sigma", lambda: Problem.dense([[1.0, 2.0], [2.0, 1.0]], np.eye(3)), "not positive semidefinite"),
    ("nan sigma", lambda: Problem.dense([[np.nan]], np.eye(3)), "NaN or Inf"),
    ("inf noise", lambda: Problem.dense(np.eye(2), np.eye(3), noise=np.inf), "NaN or Inf"),
    ("negative noise", lambda: Problem.dense(np.eye(2), np.eye(3), noise=-0.1), "noise variance"),
    ("empty prompt dense", lambda: Problem.dense(np.eye(2), np.eye(1)), "empty prompt"),
    ("empty prompt segments", lambda: Problem.segmented(np.eye(2), [], []), "empty prompt"),
    ("zero segment", lambda: Problem.segmented(np.eye(2), [0, 3], [0.1, 0.2]), "at least one"),
    ("non-PSD joint", lambda: Problem.segmented(np.eye(2), [3], [2.0]), "joint task correlation"),
    ("non-PSD C", lambda: Problem.segmented(np.eye(2), [3, 3], [0, 0], correlation=[[1, 2], [2, 1]]), "not positive"),
    ("wrong c length", lambda: Problem.segmented(np.eye(2), [3, 3], [0.1]), "shape 2"),
    ("rbar not square", lambda: Problem.dense(np.eye(2), np.ones((2, 3))), "square"),
    ("sigma 1-d", lambda: Problem.dense(np.ones(3), np.eye(3)), "2 dimension"),
    ("zero everything", lambda: Problem.segmented(np.zeros((2, 2)), [3], [0.0]), "identically zero"),
    ("non-numeric", lambda: Problem.dense("abc", np.eye(3)), "numeric"),
]


@pytest.mark.parametrize("name,make,message", BAD, ids=[b[0] for b in BAD])
def test_bad_problems_raise_clear_errors(name, make, message):
    with pytest.raises(InvalidProblemError, match=message):
        make()


def test_query_row_is_part_of_the_psd_check():
    # R = I (PSD) but the query row makes the joint matrix indefinite.
    rbar = np.eye(3)
    rbar[:2, 2] = rbar[2, :2] = 0.9
    with pytest.raises(InvalidProblemError, match="with the query row"):
        Problem.dense(np.eye(2), rbar)


def test_problem_is_immutable():
    pr = Problem.segmented(np.eye(2), [2], [0.5])
    with pytest.raises(ValueError):
        pr.sigma[0, 0] = 5.0
    with pytest.raises(AttributeError):
        pr.noise = 1.0


def test_singular_sigma_is_accepted():
    pr = Problem.segmented(np.diag([1.0, 0.0]), [2], [0.5])
    assert pr.sigma_eig[0][0] == 0.0


def test_million_token_segment_problem_stays_small():
    pr = Problem.segmented(np.eye(3), [500_000, 500_000], [0.2, 0.8])
    w = np.ones(pr.n)
    # ωᵀM1ω with ω = 1: C-weighted segment sums plus the diagonal.
    expected = 500_000**2 * 2 + pr.n
    assert pr.quad_m1(w) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(InvalidProblemError, match="structured path"):
        pr.m1_matrix()
