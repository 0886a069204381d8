"""Training references and the delimiter coding (docs/theory.md §2.3): the scalar class optimum
assumes one delimiter code per boundary; a shared delimiter reaches it for K = 2 but not for K ≥ 3."""

import numpy as np

from wpgd.numerics import Problem, class_optimum
from wpgd.numerics.core.references import SHARED_DELIMITER_NOTE, theory_references
from wpgd.numerics.core.weighting import best_for_weights


def _problem(c):
    return Problem.segmented(np.eye(3), [6] * len(c), list(c), noise=0.1)


def _best_shared_flag_risk(pr, grid=2001):
    """Best risk over the segment weights a shared delimiter gate θ realises, w_k = θ^(K−k)."""
    k = pr.num_segments
    sizes = np.asarray(pr.segment_sizes)
    best = np.inf
    for theta in np.linspace(0.0, 1.0, grid):
        w = np.repeat(theta ** np.arange(k - 1, -1, -1, dtype=float), sizes)
        best = min(best, best_for_weights(pr, w).risk)
    return best


def test_two_segments_a_shared_flag_reaches_the_scalar_optimum():
    pr = _problem([0.3, 0.9])
    scalar = class_optimum(pr, "scalar").risk
    assert abs(_best_shared_flag_risk(pr) - scalar) / pr.null_risk < 1e-6
    assert SHARED_DELIMITER_NOTE not in theory_references(pr, "scalar")[1]


def test_three_segments_a_shared_flag_does_not_and_the_references_say_so():
    pr = _problem([0.05, 0.6, 0.7])  # optimal segment weights ≈ (small, ≈1, 1): monotone, not geometric
    scalar = class_optimum(pr, "scalar").risk
    assert (_best_shared_flag_risk(pr) - scalar) / pr.null_risk > 1e-3
    assert SHARED_DELIMITER_NOTE in theory_references(pr, "scalar", delimiter="flag")[1]
    assert SHARED_DELIMITER_NOTE in theory_references(pr, "scalar", delimiter="label")[1]
    # the default ("boundary": one code per boundary) realises the class, so no note
    assert SHARED_DELIMITER_NOTE not in theory_references(pr, "scalar")[1]
    # negative controls: no delimiters, or a family without the scalar/vector references
    assert SHARED_DELIMITER_NOTE not in theory_references(pr, "scalar", delimiter="none")[1]
    assert SHARED_DELIMITER_NOTE not in theory_references(pr, "linear")[1]
