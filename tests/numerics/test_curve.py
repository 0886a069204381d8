"""wpgd.numerics.core.curve: a theory curve equals the class optima of independently built problems."""

from __future__ import annotations

import numpy as np
import pytest

from wpgd.numerics.core.classes import CLASSES, class_optimum
from wpgd.numerics.core.curve import scaled_segments, theory_curve, vary_problem
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.solver import solve

RTOL = 1e-10  # same closed forms on equal problems: agreement to rounding


def _base(**kw):
    args = dict(correlation=[[1.0, 0.2], [0.2, 1.0]], query_variance=1.0, noise=0.2)
    args.update(kw)
    sigma = args.pop("sigma", np.eye(3))
    sizes = args.pop("sizes", [6, 6])
    c = args.pop("c", [0.3, 0.9])
    return Problem.segmented(sigma, sizes, c, **args)


def _toeplitz(rho, d):
    i = np.arange(d)
    return rho ** np.abs(i[:, None] - i[None, :]).astype(float)


CASES = [
    ("noise", [0.0, 0.5, 2.0], lambda v: _base(noise=v)),
    ("n", [4, 12, 30], lambda v: _base(sizes=[v // 2, v // 2])),
    ("query_correlation.1", [0.1, 0.5, 0.95], lambda v: _base(c=[0.3, v])),
    ("correlation.0.1", [-0.1, 0.0, 0.5], lambda v: _base(correlation=[[1, v], [v, 1]])),
    ("query_variance", [1.0, 1.5], lambda v: _base(query_variance=v)),
    ("segment.0", [1, 3, 20], lambda v: _base(sizes=[v, 6])),
    ("toeplitz", [0.0, 0.5, 0.9], lambda v: _base(sigma=_toeplitz(v, 3))),
    ("dim", [1, 2, 5], lambda v: _base(sigma=np.eye(int(v)))),
]


@pytest.mark.parametrize("vary,values,build", CASES, ids=[c[0] for c in CASES])
def test_curve_agrees_point_by_point_with_individual_solves(vary, values, build):
    curve = theory_curve(_base(), vary, values)
    assert curve.values == sorted(values)
    for i, v in enumerate(curve.values):
        pr = build(v)
        for cls in CLASSES:
            ref = class_optimum(pr, cls)
            assert curve.risk[cls][i] == pytest.approx(ref.risk, rel=RTOL), (vary, v, cls)
            assert curve.normalized_risk[cls][i] == pytest.approx(ref.normalized_risk, rel=RTOL), (
                vary,
                v,
                cls,
            )
        # the unconstrained column is the solver's optimum (wpgd solve), and no class beats it
        opt = solve(pr)
        assert curve.risk["unconstrained"][i] == pytest.approx(opt.risk, rel=RTOL)
        for cls in CLASSES:
            assert curve.risk[cls][i] >= opt.risk * (1 - 1e-9), (vary, v, cls)


def test_negative_control_a_curve_point_differs_from_a_neighbouring_problem():
    """The comparison above is sensitive: a 5% change of σ² moves every class optimum well beyond RTOL."""
    curve = theory_curve(_base(), "noise", [0.5])
    wrong = _base(noise=0.525)
    for cls in CLASSES:
        ref = class_optimum(wrong, cls).risk
        assert abs(curve.risk[cls][0] / ref - 1) > 1e3 * RTOL, cls


def test_n_scaling_keeps_proportions_and_flags_rounding():
    sizes, exact = scaled_segments([30, 10], 40)
    assert (sizes, exact) == ([30, 10], True)
    for n in range(2, 60):
        sizes, exact = scaled_segments([3, 1], n)
        assert sum(sizes) == n and min(sizes) >= 1
        assert exact == (n % 4 == 0)
        assert abs(sizes[0] - 0.75 * n) <= 1.0
    curve = theory_curve(_base(sizes=[9, 3]), "n", [8, 10])
    assert [p["exact_split"] for p in curve.points] == [True, False]
    assert curve.points[1]["segments"] == [8, 2] and curve.notes


@pytest.mark.parametrize(
    "base,vary,values,match",
    [
        (None, "temperature", [1.0], "unknown parameter"),
        (None, "query_correlation.5", [0.1], "out of range"),
        (None, "correlation.1.1", [0.1], "out of range"),
        (None, "noise", [0.1, 0.1], "repeat"),
        (None, "noise", [-1.0], "at noise = -1"),
        (None, "n", [2.5], "positive integers"),
        (None, "n", [1], "below the number of segments"),
        (None, "toeplitz", [1.0], "ρ"),
        ("diag", "toeplitz", [0.5], "identity or Toeplitz"),
        ("dense", "n", [10], "segment problem"),
        (None, "query_correlation.1", [5.0], "at query_correlation.1 = 5"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_error(base, vary, values, match):
    if base == "diag":
        pr = _base(sigma=np.diag([1.0, 2.0, 3.0]))
    elif base == "dense":
        pr = _base().as_dense()
    else:
        pr = _base()
    with pytest.raises(InvalidProblemError, match=match):
        theory_curve(pr, vary, values)


def test_dense_problem_can_vary_noise():
    pr = _base().as_dense()
    out, _ = vary_problem(pr, "noise", 1.0)
    assert out.noise == 1.0 and out.task_matrix is not None
    np.testing.assert_allclose(out.task_matrix, pr.task_matrix, rtol=0, atol=1e-12)  # PSD projection only
