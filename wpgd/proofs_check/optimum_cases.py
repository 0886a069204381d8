"""Reproducible problems for the optimum checks, among them a counterexample to uniqueness.

*Three fixed points.* Found by the adversarial search of ``optimum.uniqueness_stress``
(maximise the slope of φ_R∘φ_Σ at a fixed point over the spectra of Σ and of the task
pencil), then realised as a segment problem: Σ = diag(λ) with one large and nine small
eigenvalues (d = 10), two independent task segments of 1 and 2400 demonstrations. A segment
with C = diag(v), noise σ² has informative atoms ``ρ_k = v_k(n_k + 1)/(tr Σ v_k + σ²)`` and masses
``s_k² = n_k c_k²/(tr Σ v_k + σ²)``, which is how (ρ, s²) found by the search are turned into
(v, c) at σ² = 1 (:func:`three_fixed_points_problem`). For σ² ∈ [1.00, 1.08] the map has three
fixed points: two attracting (local minima of L) and one repelling (a saddle).

*Tie.* Along σ² the risk difference between the two local minima changes sign in
[1.01, 1.02]; at the root (:func:`tie_noise`) the problem has **two global minimisers that are
not related by scaling** (γ ≈ 0.587 and γ ≈ 6.54, σ² ≈ 1.01333): the optimum is not unique. The gap condition
fails by far there (δ_Σ·δ_R ≈ 0.93), so this does not contradict the uniqueness theorem under
the gap condition; it shows that some such condition is needed.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from wpgd.numerics.core.problem import Problem

__all__ = ["THREE_FP_LAMBDA", "three_fixed_points_problem", "tie_noise", "spec_text"]

THREE_FP_LAMBDA = np.array(
    [1.29450067, 2.39629854, 0.26120746, 2.1480439, 0.50782174,
     1.23614219, 1.64458228, 204.09937915, 2.32963674, 0.74292916]
)
"""Eigenvalues of Σ (diagonal) of the three-fixed-point case."""

_RHO = np.array([6.15555789e-05, 1.02891862e01])
_MASS = np.array([8.53035042e-04, 3.11997223e01])
_SIZES = np.array([1, 2400])


def _realisation():
    tr = float(np.sum(THREE_FP_LAMBDA))
    v = _RHO / (_SIZES + 1 - _RHO * tr)  # at σ² = 1
    c = np.sqrt(_MASS * (tr * v + 1.0) / _SIZES)
    r_q = 1.5 * float(np.sum(c**2 / v))
    return v, c, r_q


def three_fixed_points_problem(noise: float = 1.0) -> Problem:
    """The counterexample family (segments [1, 2400], d = 10); three fixed points for σ² ∈ [1, 1.08]."""
    v, c, r_q = _realisation()
    return Problem.segmented(np.diag(THREE_FP_LAMBDA), _SIZES.tolist(), c, np.diag(v), r_q, noise=noise)


def tie_noise(lo: float = 1.01, hi: float = 1.02) -> float:
    """σ² at which the two local minima have equal risk (Brent on the risk difference)."""
    from wpgd.numerics.core.solver import solve

    def diff(s2):
        r = solve(three_fixed_points_problem(s2)).fixed_point_risks
        if len(r) != 3:
            raise RuntimeError(f"expected three fixed points at σ² = {s2}, found {len(r)}")
        return (r[0] - r[-1]) / abs(r[-1])

    return float(brentq(diff, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def spec_text(noise: float) -> str:
    """The case as a TOML problem spec (exact float64 values); its header says what holds at ``noise``
    (``docs/cases/three_fixed_points.toml`` is ``spec_text(1.0)``)."""
    v, c, r_q = _realisation()
    v, c, r_q = [float(x) for x in v], [float(x) for x in c], float(r_q)
    return (
        f"# σ² = {float(noise)!r}. For σ² in [1.00, 1.08] φ_R∘φ_Σ has three fixed points: two local\n"
        "# minima of L and a saddle. The two minima have equal risk (two global minimisers not related\n"
        "# by scaling) only at σ² = tie_noise() ≈ 1.01333; elsewhere one of them is the global minimum.\n"
        "# docs/conditions.md, wpgd/proofs_check/optimum_cases.py (spec_text)\n"
        "[features]\n"
        f"dim = {THREE_FP_LAMBDA.size}\n"
        f"covariance = {{diag = [{', '.join(repr(float(x)) for x in THREE_FP_LAMBDA)}]}}\n\n"
        "[tasks]\n"
        f"segments = [{', '.join(str(int(s)) for s in _SIZES)}]\n"
        f"correlation = [[{v[0]!r}, 0.0], [0.0, {v[1]!r}]]\n"
        f"query_correlation = [{c[0]!r}, {c[1]!r}]\n"
        f"query_variance = {r_q!r}\n\n"
        "[noise]\n"
        f"variance = {float(noise)!r}\n"
    )
