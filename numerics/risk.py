"""Closed-form population risk of the WPGD predictor (THEORY.md §4).

    L(P, ω) = r_q tr Σ + σ² − 2 a(P) rᵀω + b(P) ωᵀM1ω + c(P) ωᵀM2ω
    a = tr(PΣ²),  b = tr(PᵀΣPΣ²),  c = tr(PᵀΣPΣ),  M1 = R + D_R,  M2 = tr Σ·D_R + σ² I

This formula is derived mechanically in ``theory.risk`` (Wick pairings); ``proofs_check``
compares the compiled symbolic expression, this code, and Monte Carlo. Everything here is
vectorised over leading batch axes and, for segment problems, O(n) in the prompt length.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidProblemError
from .problem import Problem
from .safety import as_finite_array

__all__ = ["risk", "normalized_risk", "preconditioner_terms", "check_pw"]


def check_pw(problem: Problem, P=None, omega=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate (P, ω) against a problem; defaults P = I, ω = 1.

    Returns:
        P, shape (..., d, d); ω, shape (..., n); float64.
    """
    d, n = problem.d, problem.n
    P = np.eye(d) if P is None else as_finite_array("preconditioner P", P)
    omega = np.ones(n) if omega is None else as_finite_array("weights ω", omega)
    if P.ndim < 2 or P.shape[-2:] != (d, d):
        raise InvalidProblemError(f"preconditioner P must have shape ({d}, {d}), got {P.shape}")
    if omega.ndim < 1 or omega.shape[-1] != n:
        raise InvalidProblemError(f"weights ω must have length n = {n}, got shape {omega.shape}")
    return P, omega


def preconditioner_terms(problem: Problem, P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three traces a(P) = tr(PΣ²), b(P) = tr(PᵀΣPΣ²), c(P) = tr(PᵀΣPΣ).

    Args:
        P: shape (..., d, d).

    Returns:
        (a, b, c), each shape (...).
    """
    s = problem.sigma
    s2 = s @ s
    a = np.einsum("...ij,ji->...", P, s2)
    sp = s @ P  # ΣP, (..., d, d)
    b = np.einsum("...ji,...jk,ki->...", P, sp, s2)  # tr(Pᵀ Σ P Σ²)
    c = np.einsum("...ji,...jk,ki->...", P, sp, s)
    return a, b, c


def risk(problem: Problem, P=None, omega=None):
    """Population risk E[(ŷ − y)²] of ŷ = xᵀ P Xᵀ(ω ⊙ y).

    Args:
        problem: the setting.
        P: preconditioner, shape (..., d, d); default identity.
        omega: token weights, shape (..., n); default all ones. Batch axes broadcast.

    Returns:
        Raw risk (same units as y²), a float or an array of the broadcast batch shape.

    >>> import numpy as np
    >>> pr = Problem.segmented(np.eye(2), [3], [1.0])
    >>> round(float(risk(pr, np.zeros((2, 2)))), 12)  # P = 0 predicts zero: L = r_q tr Σ
    2.0
    """
    P, omega = check_pw(problem, P, omega)
    a, b, c = preconditioner_terms(problem, P)
    val = (
        problem.null_risk
        - 2.0 * a * problem.r_dot(omega)
        + b * problem.quad_m1(omega)
        + c * problem.quad_m2(omega)
    )
    return float(val) if np.ndim(val) == 0 else val


def normalized_risk(problem: Problem, P=None, omega=None):
    """``risk / (r_q tr Σ + σ²)``: 1 means no better than predicting zero."""
    return risk(problem, P, omega) / problem.null_risk
