"""Public Hypothesis strategies for WPGD settings, for our tests and for users' own derivations.

Import them in your own property tests::

    from hypothesis import given
    from wpgd.proofs_check.strategies import problems, preconditioners, weights

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
* :func:`problems` – validated :class:`wpgd.numerics.core.problem.Problem`, dense or segment form.
* :func:`weights`, :func:`preconditioners` – token weights and (non-symmetric) preconditioners.

Draws are informative by default: array entries are drawn independently (no repeated fill
value), ω = 0, P = 0 and n = 1 — where every formula gives the same risk — are not drawn unless
asked for (``allow_zero=True``, ``problems(min_tokens=1)``); cover them with explicit
``@example``s. :func:`problems` records ``hypothesis.event``s (form, n, d), shown by
``pytest --hypothesis-show-statistics``.

Settings profiles ``ci`` (30 examples, derandomized) and ``thorough`` (500) are registered on
import; select one with ``WPGD_HYPOTHESIS_PROFILE=thorough`` (or ``HYPOTHESIS_PROFILE``) and
:func:`load_profile`.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.extra import numpy as hnp

from wpgd.numerics.core.problem import Problem

from .random_problems import joint_task_matrix, spd_from_spectrum

__all__ = [
    "spd_covariances",
    "task_correlations",
    "segment_task_models",
    "problems",
    "weights",
    "preconditioners",
    "PROFILE_ENV",
    "load_profile",
]

PROFILE_ENV = "WPGD_HYPOTHESIS_PROFILE"
"""Environment variable naming the settings profile to load (``ci`` or ``thorough``)."""

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True, suppress_health_check=_SUPPRESS)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=_SUPPRESS)


def load_profile(default: str = "ci") -> str:
    """Load the settings profile named by ``$WPGD_HYPOTHESIS_PROFILE`` (else ``$HYPOTHESIS_PROFILE``,
    else ``default``) and return its name.

    Profiles registered on import: ``ci`` (30 examples, derandomized, no deadline) and
    ``thorough`` (500 examples, random). Call this from your ``conftest.py``; importing this module
    with ``WPGD_HYPOTHESIS_PROFILE`` set loads that profile by itself.
    """
    name = os.environ.get(PROFILE_ENV) or os.environ.get("HYPOTHESIS_PROFILE") or default
    settings.load_profile(name)
    return name


if os.environ.get(PROFILE_ENV):
    load_profile()



def _floats(lo: float, hi: float):
    # Subnormals are excluded: products of them underflow, and np.seterr(all="raise") is on in tests.
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


_unit = _floats(-1.0, 1.0)


def _orthogonal(draw, d: int) -> np.ndarray:
    a = draw(hnp.arrays(np.float64, (d, d), elements=_unit, fill=st.nothing()))
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
    u = draw(hnp.arrays(np.float64, (d,), elements=_floats(0.0, 1.0), fill=st.nothing()))
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
    g = draw(hnp.arrays(np.float64, (m, m + 1), elements=_unit, fill=st.nothing()))
    g = g + 3.0 * np.eye(m, m + 1)  # every row has norm ≥ 2, so every task variance is > 0
    var = np.ones(m) if unit_variance else draw(
        hnp.arrays(np.float64, (m,), elements=_floats(0.5, 2.0), fill=st.nothing()))
    return joint_task_matrix(g, var)


@st.composite
def segment_task_models(draw, num_segments=st.integers(1, 4), max_size: int = 20, unit_variance: bool = False):
    """A segment task model: ``(sizes, C (K,K), c (K,), r_q)`` whose joint (K+1)² matrix is PSD."""
    k = draw(num_segments) if isinstance(num_segments, st.SearchStrategy) else int(num_segments)
    sizes = draw(st.lists(st.integers(1, max_size), min_size=k, max_size=k))
    joint = draw(task_correlations(st.just(k), unit_variance=unit_variance))
    return sizes, joint[:k, :k], joint[:k, k], float(joint[k, k])


@st.composite
def problems(draw, dim=st.integers(1, 5), form=st.sampled_from(["dense", "segments"]), max_condition=1e3,
             min_tokens: int = 2):
    """A validated :class:`Problem` (dense or segment form) with noise σ² ∈ [0, 1] and n ≥ ``min_tokens``.

    Single-token prompts (n = 1, where ω is a scale absorbed by P) are drawn only with
    ``min_tokens=1``; tests cover them with explicit ``@example``s. Records the events
    ``form: dense|segments``, ``n: 1|2-9|≥10`` and ``d: 1|≥2``.
    """
    kind = draw(form)
    sigma = draw(spd_covariances(dim, max_condition))
    noise = draw(_floats(0.0, 1.0))
    if kind == "dense":
        pr = Problem.dense(sigma, draw(task_correlations(st.integers(max(1, min_tokens), max(6, min_tokens)))), noise)
    else:
        sizes, c_mat, c_vec, r_q = draw(segment_task_models())
        sizes[-1] += max(0, min_tokens - sum(sizes))  # the segment nearest the query absorbs the shortfall
        pr = Problem.segmented(sigma, sizes, c_vec, correlation=c_mat, query_variance=r_q, noise=noise)
    event(f"form: {kind}")
    event("n: " + ("1" if pr.n == 1 else "2-9" if pr.n < 10 else "≥10"))
    event("d: " + ("1" if pr.d == 1 else "≥2"))
    return pr


def _nonzero(a: np.ndarray) -> bool:
    return bool(np.any(a != 0))


def weights(n: int, low: float = -2.0, high: float = 2.0, *, allow_zero: bool = False):
    """Token weights ω, shape (n,), entries in [low, high], drawn independently.

    ω = 0 (every formula gives the null risk there) is drawn only with ``allow_zero=True``;
    cover it with an explicit ``@example`` instead.
    """
    arrays = hnp.arrays(np.float64, (n,), elements=_floats(low, high), fill=st.nothing())
    return arrays if allow_zero else arrays.filter(_nonzero)


def preconditioners(d: int, scale: float = 1.0, *, allow_zero: bool = False):
    """Non-symmetric preconditioners P, shape (d, d), entries in [−scale, scale], drawn independently.

    P = 0 is drawn only with ``allow_zero=True``; cover it with an explicit ``@example`` instead.
    """
    arrays = hnp.arrays(np.float64, (d, d), elements=_floats(-scale, scale), fill=st.nothing())
    return arrays if allow_zero else arrays.filter(_nonzero)
