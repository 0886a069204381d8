"""Numerical safety: input checks, PSD factors, guarded divisions and log-space products.

Modelled on optax's ``numerics.py``: every place where the toolkit could silently produce
a NaN (a division, a factorisation of a nearly singular matrix, a product of many gates)
goes through one of these helpers instead.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidProblemError

__all__ = [
    "SYMMETRY_RTOL",
    "PSD_RTOL",
    "as_finite_array",
    "check_symmetric",
    "check_psd",
    "psd_factor",
    "safe_div",
    "log_cumprod_reverse",
    "gate_products",
]

SYMMETRY_RTOL = 1e-10
"""Relative tolerance ``‖A − Aᵀ‖_max ≤ tol·max(1, ‖A‖_max)`` for a matrix to count as symmetric."""

PSD_RTOL = 1e-10
"""Relative tolerance ``λ_min ≥ −tol·max(1, |λ|_max)`` for a symmetric matrix to count as PSD."""


def as_finite_array(name: str, value, *, ndim: int | None = None, shape=None) -> np.ndarray:
    """Convert ``value`` to a float64 array and check it is finite and of the right shape.

    Args:
        name: what the value is, used in the error message.
        value: array-like.
        ndim: required number of dimensions, or None.
        shape: required shape (None entries are free), or None.

    Returns:
        A new float64 array, shape as given.

    Raises:
        InvalidProblemError: non-numeric, wrong shape, NaN or Inf.
    """
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"{name} must be numeric ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise InvalidProblemError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "×".join("*" if s is None else str(s) for s in shape)
            got = "×".join(str(a) for a in arr.shape) or "scalar"
            raise InvalidProblemError(f"{name} must have shape {want}, got {got}")
    if not np.all(np.isfinite(arr)):
        raise InvalidProblemError(f"{name} contains NaN or Inf")
    return arr


def check_symmetric(name: str, a: np.ndarray) -> np.ndarray:
    """Check ``a`` is square and symmetric (to :data:`SYMMETRY_RTOL`); return its symmetric part."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InvalidProblemError(f"{name} must be a square matrix, got shape {a.shape}")
    if a.size == 0:
        raise InvalidProblemError(f"{name} is empty")
    scale = max(1.0, float(np.max(np.abs(a))))
    asym = float(np.max(np.abs(a - a.T)))
    if asym > SYMMETRY_RTOL * scale:
        raise InvalidProblemError(f"{name} is not symmetric (max |A - A^T| = {asym:.3g})")
    return 0.5 * (a + a.T)


def check_psd(name: str, a: np.ndarray, *, strict: bool = False) -> np.ndarray:
    """Check a symmetric matrix is positive semidefinite (or definite if ``strict``).

    Returns:
        Its eigenvalues, ascending, shape (m,).

    Raises:
        InvalidProblemError: naming the most negative eigenvalue.
    """
    eig = np.linalg.eigvalsh(a)
    scale = max(1.0, float(np.max(np.abs(eig))))
    if eig[0] < -PSD_RTOL * scale:
        raise InvalidProblemError(
            f"{name} is not positive semidefinite (smallest eigenvalue {eig[0]:.3g})"
        )
    if strict and eig[0] <= PSD_RTOL * scale:
        raise InvalidProblemError(f"{name} is singular (smallest eigenvalue {eig[0]:.3g})")
    return eig


def psd_factor(a: np.ndarray) -> np.ndarray:
    """A factor ``F`` with ``F Fᵀ = a`` for a PSD matrix (eigenvalue clipping at 0, no Cholesky failure).

    Args:
        a: symmetric PSD matrix, shape (m, m).

    Returns:
        F, shape (m, m).
    """
    eig, vec = np.linalg.eigh(a)
    return vec * np.sqrt(np.clip(eig, 0.0, None))


def safe_div(num, den, *, name: str = "denominator", tiny: float = 0.0):
    """``num / den`` that raises instead of returning Inf/NaN when ``|den| ≤ tiny``."""
    den_arr = np.asarray(den, dtype=np.float64)
    if np.any(np.abs(den_arr) <= tiny):
        raise ZeroDivisionError(f"{name} is zero")
    return np.asarray(num, dtype=np.float64) / den_arr


def log_cumprod_reverse(log_gates: np.ndarray) -> np.ndarray:
    """Log of reverse cumulative products: ``out_i = Σ_{j>i} log g_j`` along the last axis.

    With gates ``g_1..g_{m}`` (last entry the query's gate), token ``i`` gets weight
    ``ω_i = Π_{j=i+1}^{m} g_j``; this returns ``log ω`` for ``i = 1..m`` (``log ω_m = 0``).
    Computed from a cumulative sum of logs, never by dividing cumulative products.

    Args:
        log_gates: log-decays ``log g ≤ 0``, shape (..., m).

    Returns:
        shape (..., m).
    """
    lg = np.asarray(log_gates, dtype=np.float64)
    rev = np.cumsum(lg[..., ::-1], axis=-1)[..., ::-1]
    out = np.zeros_like(lg)
    out[..., :-1] = rev[..., 1:]
    return out


def gate_products(log_gates: np.ndarray) -> np.ndarray:
    """Token weights ``ω_i = Π_{j>i} g_j`` from log-gates (see :func:`log_cumprod_reverse`)."""
    return np.exp(log_cumprod_reverse(log_gates))
