"""Public Hypothesis strategies for WPGD settings, for our tests and for users' own derivations.

Import them in your own property tests::

    from hypothesis import given
    from proofs_check.strategies import problems, preconditioners, weights

    @given(problems(), st.data())
    def test_my_bound(problem, data):
        P = data.draw(preconditioners(problem.d))
        w = data.draw(weights(problem.n))
        ...

Every strategy draws its numbers through Hypothesis (so failures shrink), and produces only
valid objects (``Problem`` constructors never raise on them).

* :func:`spd_covariances` – Σ ≻ 0 with a controllable condition number.
* :func:`task_correlations` – a full (n+1)×(n+1) PSD task correlation, query last.
* :func:`segment_task_models` – (sizes, C, c, r_q) of a segment model with a PSD joint matrix.
* :func:`problems` – validated :class:`numerics.problem.Problem`, dense or segment form.
* :func:`weights`, :func:`preconditioners` – token weights and (non-symmetric) preconditioners.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numerics.problem import Problem

from .random_problems import joint_task_matrix, spd_from_spectrum

__all__ = [
    "spd_covariances",
    "task_correlations",
    "segment_task_models",
    "problems",
    "weights",
    "preconditioners",
]



def _floats(lo: float, hi: float):
    # Subnormals are excluded: products of them underflow, and np.seterr(all="raise") is on in tests.
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


_unit = _floats(-1.0, 1.0)


def _orthogonal(draw, d: int) -> np.ndarray:
    a = draw(hnp.arrays(np.float64, (d, d), elements=_unit))
    a = a + 3.0 * np.eye(d)  # keeps QR well defined when Hypothesis shrinks a toward 0
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))


@st.composite
def spd_covariances(draw, dim=st.integers(1, 5), max_condition: float = 1e3):
    """Σ ≻ 0, shape (d, d), with condition number in [1, ``max_condition``].

    Args:
        dim: strategy (or int) for d.
        max_condition: the largest condition number drawn (log-uniform).
    """
    d = draw(dim) if isinstance(dim, st.SearchStrategy) else int(dim)
    logc = draw(_floats(0.0, float(np.log(max_condition))))
    u = draw(hnp.arrays(np.float64, (d,), elements=_floats(0.0, 1.0)))
    lam = np.exp(logc * u)
    if d > 1:
        lam[0], lam[-1] = 1.0, np.exp(logc)
    return spd_from_spectrum(lam / lam.mean(), _orthogonal(draw, d))


@st.composite
def task_correlations(draw, n=st.integers(1, 6), unit_variance: bool = False):
    """A full joint task correlation R̄, shape (n+1, n+1), PSD, query last.

    Task variances (the diagonal) are in [0.5, 2] unless ``unit_variance``.
    """
    n_ = draw(n) if isinstance(n, st.SearchStrategy) else int(n)
    m = n_ + 1
    g = draw(hnp.arrays(np.float64, (m, m + 1), elements=_unit))
    g = g + 3.0 * np.eye(m, m + 1)  # every row has norm ≥ 2, so every task variance is > 0
    var = np.ones(m) if unit_variance else draw(hnp.arrays(np.float64, (m,), elements=_floats(0.5, 2.0)))
    return joint_task_matrix(g, var)


@st.composite
def segment_task_models(draw, num_segments=st.integers(1, 4), max_size: int = 20, unit_variance: bool = False):
    """A segment task model: ``(sizes, C (K,K), c (K,), r_q)`` whose joint (K+1)² matrix is PSD."""
    k = draw(num_segments) if isinstance(num_segments, st.SearchStrategy) else int(num_segments)
    sizes = draw(st.lists(st.integers(1, max_size), min_size=k, max_size=k))
    joint = draw(task_correlations(st.just(k), unit_variance=unit_variance))
    return sizes, joint[:k, :k], joint[:k, k], float(joint[k, k])


@st.composite
def problems(draw, dim=st.integers(1, 5), form=st.sampled_from(["dense", "segments"]), max_condition=1e3):
    """A validated :class:`Problem` (dense or segment form) with noise σ² ∈ [0, 1]."""
    sigma = draw(spd_covariances(dim, max_condition))
    noise = draw(_floats(0.0, 1.0))
    if draw(form) == "dense":
        return Problem.dense(sigma, draw(task_correlations()), noise)
    sizes, c_mat, c_vec, r_q = draw(segment_task_models())
    return Problem.segmented(sigma, sizes, c_vec, correlation=c_mat, query_variance=r_q, noise=noise)


def weights(n: int, low: float = -2.0, high: float = 2.0):
    """Token weights ω, shape (n,), entries in [low, high]."""
    return hnp.arrays(np.float64, (n,), elements=_floats(low, high))


def preconditioners(d: int, scale: float = 1.0):
    """Non-symmetric preconditioners P, shape (d, d), entries in [−scale, scale]."""
    return hnp.arrays(np.float64, (d, d), elements=_floats(-scale, scale))
