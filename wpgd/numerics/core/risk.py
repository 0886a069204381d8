"""Closed-form population risk of the WPGD predictor (docs/theory.md §4).

    L(P, ω) = r_q tr Σ + σ² − 2 a(P) rᵀω + b(P) ωᵀM1ω + c(P) ωᵀM2ω
    a = tr(PΣ²),  b = tr(PᵀΣPΣ²),  c = tr(PᵀΣPΣ),  M1 = R + D_R,  M2 = tr Σ·D_R + σ² I

This formula is derived mechanically in ``wpgd.theory.risk`` (Wick pairings); ``proofs_check``
compares the compiled symbolic expression, this code, and Monte Carlo. Everything here is
vectorised over leading batch axes and, for segment problems, O(n) in the prompt length.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.limits import require_memory
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.safety import as_finite_array

__all__ = ["risk", "normalized_risk", "preconditioner_terms", "check_pw"]


def check_pw(problem: Problem, P=None, omega=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate (P, ω) against a problem; defaults P = I, ω = 1.

    Returns:
        P, shape (..., d, d); ω, shape (..., n); float64.
    """
    d, n = problem.d, problem.n
    if omega is None:

        require_memory(f"the default weights ω = 1 for a prompt of n = {n:.3g} tokens", 6 * 8.0 * n)
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

    Raises:
        InvalidProblemError: the risk is not representable in float64 (it overflows; the message
            gives its order of magnitude). Extreme but representable scales are computed in
            rescaled units (:func:`scaled_risk`) instead of overflowing.

    >>> import numpy as np
    >>> pr = Problem.segmented(np.eye(2), [3], [1.0])
    >>> round(float(risk(pr, np.zeros((2, 2)))), 12)  # P = 0 predicts zero: L = r_q tr Σ
    2.0
    """
    P, omega = check_pw(problem, P, omega)
    direct = _direct(problem, P, omega)
    if direct is not None:
        return direct
    mant, exp, _ = scaled_risk(problem, P, omega)
    return _finish(mant, exp, "the risk")


def normalized_risk(problem: Problem, P=None, omega=None):
    """``risk / (r_q tr Σ + σ²)``: 1 means no better than predicting zero."""
    P, omega = check_pw(problem, P, omega)
    direct = _direct(problem, P, omega)
    if direct is not None:
        return direct / problem.null_risk
    mant, exp, null = scaled_risk(problem, P, omega)
    return _finish(mant / null, exp - _null_exponent(problem), "the normalised risk")


_SAFE_EXPONENT = 100


def _direct(problem, P, omega):
    """The plain formula, or None when a scale is extreme or an intermediate overflows."""
    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) > _SAFE_EXPONENT:
        return None
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            a, b, c = preconditioner_terms(problem, P)
            val = (
                problem.null_risk
                - 2.0 * a * problem.r_dot(omega)
                + b * problem.quad_m1(omega)
                + c * problem.quad_m2(omega)
            )
    except FloatingPointError:
        return None
    if not np.all(np.isfinite(val)):
        return None
    return float(val) if np.ndim(val) == 0 else val


def _exponent(x: np.ndarray) -> int:
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return int(np.frexp(top)[1]) if top > 0 else 0


def _null_exponent(problem: Problem) -> int:
    e_s, e_t = problem.scale_exponents()
    return e_s + e_t


def scaled_risk(problem: Problem, P, omega):
    """The risk as ``mantissa · 2^exponent`` computed in rescaled units (never overflows).

    With ``s = 2^e_s``, ``t = 2^e_t`` (:meth:`~wpgd.numerics.core.problem.Problem.scale_exponents`),
    ``L(P, ω) = st·L'(sP, ω)`` on the rescaled problem; writing ``sP = 2^f P̃`` and ``ω = 2^g ω̃``
    (max entries ≈ 1) and ``k = f + g``:
    ``L' = N' − 2^(k+1) a'u' + 2^(2k) (b'B' + c'C')`` with every primed quantity of order one.

    Returns:
        (mantissa, exponent, N') with ``L = mantissa · 2^exponent`` (mantissa a float or an array)
        and N' the rescaled null risk (``null_risk = N' · 2^(e_s + e_t)``).
    """
    e_s, e_t = problem.scale_exponents()
    q = problem.rescaled(e_s, e_t)
    e_p, e_w = _exponent(P), _exponent(omega)
    p_t, w_t = np.ldexp(P, -e_p), np.ldexp(omega, -e_w)
    k = e_s + e_p + e_w
    with np.errstate(under="ignore"):
        a, b, c = preconditioner_terms(q, p_t)
        lin = 2.0 * a * q.r_dot(w_t)
        quad = b * q.quad_m1(w_t) + c * q.quad_m2(w_t)
        null = q.null_risk
        top = max(0, k + 1, 2 * k)
        mant = np.ldexp(null, -top) - np.ldexp(lin, k + 1 - 1 - top) + np.ldexp(quad, 2 * k - top)
    return mant, top + e_s + e_t, null


def _finish(mant, exp: int, what: str):
    with np.errstate(over="ignore", under="ignore"):
        val = np.ldexp(mant, exp)
    if not np.all(np.isfinite(val)):
        m = float(np.max(np.abs(mant)))
        mag = (np.log10(m) if m > 0 else 0.0) + exp * np.log10(2.0)
        raise InvalidProblemError(f"{what} overflows float64 (about 1e{mag:.0f}): rescale P, ω or the problem")
    return float(val) if np.ndim(val) == 0 else val
