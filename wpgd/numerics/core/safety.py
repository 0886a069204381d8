"""Numerical safety: input checks, PSD factors, guarded divisions and log-space products.

Modelled on optax's ``numerics.py``: every place where the toolkit could silently produce
a NaN (a division, a factorisation of a nearly singular matrix, a product of many gates)
goes through one of these helpers instead.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError

__all__ = [
    "SYMMETRY_RTOL",
    "PSD_RTOL",
    "DIAG_FLOOR",
    "MAX_NESTING",
    "as_real_array",
    "as_finite_array",
    "check_symmetric",
    "check_psd",
    "validate_psd",
    "psd_factor",
    "safe_div",
    "log_cumprod_reverse",
    "gate_products",
    "relative_error",
]

SYMMETRY_RTOL = 1e-10
"""Per-entry relative tolerance for symmetry: ``|a_ij − a_ji| ≤ tol · s_ij`` with the entry's own
scale ``s_ij = max(√(d_i d_j), |a_ij|, |a_ji|)`` (``d_i`` the floored diagonal, see
:data:`DIAG_FLOOR`). A large-variance feature cannot hide an asymmetric block elsewhere."""

PSD_RTOL = 1e-10
"""A symmetric matrix counts as PSD when the smallest eigenvalue of its *equilibrated* form
``B = D^{-1/2} A D^{-1/2}`` (``D`` = the floored diagonal, so ``B`` has unit diagonal) is
``≥ −PSD_RTOL``. Each block is judged on its own scale; a matrix that passes with a slightly
negative eigenvalue is projected once (eigenvalues of ``B`` clipped at 0) by :func:`validate_psd`."""

DIAG_FLOOR = 1e-6
"""Diagonal entries below ``DIAG_FLOOR · max_i |a_ii|`` are judged on that floor instead of their
own (zero or rounding-level) scale, so a rank-deficient matrix computed in floating point is not
refused for its rounding errors."""

MAX_NESTING = 32
"""Deepest nesting of lists accepted as an array (numpy's own limit is 64)."""

_REAL_KINDS = "iuf"
_KIND_NAMES = {"b": "boolean", "c": "complex", "M": "datetime", "m": "timedelta", "U": "string", "S": "bytes",
               "O": "object (mixed or non-numeric)", "V": "structured/void"}


def _check_leaves(name: str, value) -> None:
    """Walk nested lists/tuples without recursion; refuse booleans, strings and other non-numbers."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple)):
            if depth >= MAX_NESTING:
                raise InvalidProblemError(f"{name} is nested more than {MAX_NESTING} levels deep")
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, (bool, np.bool_)):
            raise InvalidProblemError(f"{name} must contain real numeric values only, found the boolean {item!r}")
        elif isinstance(item, (int, float, np.integer, np.floating)):
            continue
        elif isinstance(item, np.ndarray):
            _check_dtype(name, item)
        else:
            what = type(item).__name__
            shown = repr(item) if isinstance(item, (str, bytes)) and len(item) <= 20 else f"a {what}"
            raise InvalidProblemError(f"{name} must contain real numeric values only, found {shown}")


def _check_dtype(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind not in _REAL_KINDS:
        kind = _KIND_NAMES.get(arr.dtype.kind, str(arr.dtype))
        raise InvalidProblemError(f"{name} must have a real numeric dtype, got {kind} ({arr.dtype})")


def as_real_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array, refusing anything that is not a real number.

    Booleans, strings, complex numbers, datetimes and objects are refused (never converted), as
    are integers too large for float64 and lists nested deeper than :data:`MAX_NESTING`.

    Raises:
        InvalidProblemError: naming what was found.
    """
    if isinstance(value, np.ndarray):
        _check_dtype(name, value)
        arr = value
    else:
        _check_leaves(name, value)
        try:
            arr = np.array(value, dtype=np.float64)  # every leaf is a real number by now
        except OverflowError:
            raise InvalidProblemError(f"{name} has an entry beyond the float64 range") from None
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidProblemError(f"{name} must be a rectangular array of numbers ({_short(exc)})") from None
    try:
        with np.errstate(over="raise", invalid="raise"):
            return np.array(arr, dtype=np.float64)
    except (FloatingPointError, OverflowError, ValueError, TypeError):
        raise InvalidProblemError(f"{name} has an entry beyond the float64 range") from None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def as_finite_array(name: str, value, *, ndim: int | None = None, shape=None) -> np.ndarray:
    """Convert ``value`` to a float64 array (real numbers only, see :func:`as_real_array`) and check
    it is finite, non-empty and of the right shape.

    Args:
        name: what the value is, used in the error message.
        value: array-like.
        ndim: required number of dimensions, or None.
        shape: required shape (None entries are free), or None.

    Returns:
        A new float64 array, shape as given.

    Raises:
        InvalidProblemError: non-numeric, wrong shape, empty, NaN or Inf.
    """
    arr = as_real_array(name, value)
    if ndim is not None and arr.ndim != ndim:
        raise InvalidProblemError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "×".join("*" if s is None else str(s) for s in shape)
            got = "×".join(str(a) for a in arr.shape) or "scalar"
            raise InvalidProblemError(f"{name} must have shape {want}, got {got}")
    if arr.size == 0 and arr.ndim > 0:
        raise InvalidProblemError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise InvalidProblemError(f"{name} contains NaN or Inf")
    return arr


def _floored_diag(a: np.ndarray) -> np.ndarray:
    diag = np.abs(np.diag(a))
    top = float(np.max(diag)) if diag.size else 0.0
    if top == 0.0:
        top = float(np.max(np.abs(a))) if a.size else 0.0
    return np.maximum(diag, DIAG_FLOOR * top) if top > 0 else np.ones_like(diag)


def check_symmetric(name: str, a: np.ndarray) -> np.ndarray:
    """Check ``a`` is square and symmetric entry by entry (see :data:`SYMMETRY_RTOL`); return its
    symmetric part."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InvalidProblemError(f"{name} must be a square matrix, got shape {a.shape}")
    if a.size == 0:
        raise InvalidProblemError(f"{name} is empty")
    d = np.sqrt(_floored_diag(a))
    with np.errstate(over="ignore", under="ignore"):
        scale = np.maximum(np.outer(d, d), np.maximum(np.abs(a), np.abs(a.T)))
        diff = np.abs(a - a.T)
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    rel[~np.isfinite(diff)] = np.inf
    i, j = np.unravel_index(int(np.argmax(rel)), rel.shape)
    if rel[i, j] > SYMMETRY_RTOL:
        raise InvalidProblemError(
            f"{name} is not symmetric: entry [{i},{j}] = {a[i, j]:.6g} but [{j},{i}] = {a[j, i]:.6g} "
            f"(relative difference {rel[i, j]:.3g}, tolerance {SYMMETRY_RTOL:g})")
    return 0.5 * a + 0.5 * a.T


def _equilibrated(a: np.ndarray):
    d = np.sqrt(_floored_diag(a))
    with np.errstate(under="ignore"):
        b = (a / d[:, None]) / d[None, :]
    return 0.5 * (b + b.T), d


def check_psd(name: str, a: np.ndarray, *, strict: bool = False) -> np.ndarray:
    """Check a symmetric matrix is positive semidefinite (or definite if ``strict``), judged after
    equilibration (see :data:`PSD_RTOL`).

    Returns:
        The eigenvalues of the equilibrated matrix ``D^{-1/2} A D^{-1/2}``, ascending, shape (m,).

    Raises:
        InvalidProblemError: naming the smallest eigenvalue (raw and relative).
    """
    b, _ = _equilibrated(a)
    eig = _eigvalsh(name, b)
    _judge(name, a, eig, strict)
    return eig


def _eigvalsh(name, b):
    try:
        return np.linalg.eigvalsh(b)
    except np.linalg.LinAlgError:
        raise InvalidProblemError(f"{name}: the eigenvalue computation did not converge") from None


def _judge(name, a, eig, strict):
    if eig[0] < -PSD_RTOL:
        try:
            raw = float(np.linalg.eigvalsh(a)[0])
            raw_txt = f"smallest eigenvalue {raw:.3g}, "
        except (np.linalg.LinAlgError, FloatingPointError):
            raw_txt = ""
        raise InvalidProblemError(
            f"{name} is not positive semidefinite ({raw_txt}relative {eig[0]:.3g} after scaling to unit "
            f"diagonal; tolerance {PSD_RTOL:g})"
        )
    if strict and eig[0] <= PSD_RTOL:
        raise InvalidProblemError(f"{name} is singular (relative smallest eigenvalue {eig[0]:.3g})")


def validate_psd(name: str, a: np.ndarray) -> np.ndarray:
    """Check ``a`` (symmetric) is PSD within :data:`PSD_RTOL` after equilibration, and return the
    matrix every later computation sees: ``a`` itself when its equilibrated form has no negative
    eigenvalue, else its projection ``D^{1/2} V max(λ, 0) Vᵀ D^{1/2}`` (done once, here).

    Raises:
        InvalidProblemError: not PSD within the tolerance, saying by how much.
    """
    b, d = _equilibrated(a)
    try:
        eig, vec = np.linalg.eigh(b)
    except np.linalg.LinAlgError:
        raise InvalidProblemError(f"{name}: the eigenvalue computation did not converge") from None
    _judge(name, a, eig, strict=False)
    if eig[0] >= 0:
        return a
    with np.errstate(under="ignore"):
        proj = (vec * np.clip(eig, 0.0, None)) @ vec.T
        out = (proj * d[:, None]) * d[None, :]
    return 0.5 * out + 0.5 * out.T


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


def relative_error(a, b, *, ord: float | None = None,
                   floor: float = float(np.finfo(np.float64).tiny)) -> float:
    """``‖a − b‖ / max(‖b‖, floor)`` over all entries, in float64.

    ``ord=None`` is the 2-norm (the relative RMS error; the NumPy twin of
    ``wpgd.numerics.nn.gla.relative_rms``), ``ord=np.inf`` the largest absolute entry; ``floor=1.0`` makes
    it an absolute error for entries below 1.
    """
    a_arr, b_arr = np.ravel(np.asarray(a, dtype=np.float64)), np.ravel(np.asarray(b, dtype=np.float64))
    return float(np.linalg.norm(a_arr - b_arr, ord=ord) / max(float(np.linalg.norm(b_arr, ord=ord)), floor))
