"""Results computed on a rescaled problem, mapped back to the problem's units.

With ``s = 2^e_s`` and ``t = 2^e_t`` (:meth:`wpgd.numerics.core.problem.Problem.scale_exponents`,
:meth:`~wpgd.numerics.core.problem.Problem.rescaled`: Σ → Σ/s, task correlations → R̄/t, σ² → σ²/(st)) the
risk is homogeneous: ``L(P, ω; problem) = st · L(sP, ω; rescaled)`` (docs/solver.md). Hence, from
the rescaled problem's results:

* γ (an eigenvalue shift of Σ), its enclosures, the fixed points and the invariant interval: × s;
* μ = φ_Σ(γ), the preconditioners P and the L-step matrices Q, the optimal scale: × 1/s;
* risks and their confidence intervals: × st;
* everything dimensionless is unchanged: normalised risks, relative errors, slopes, contraction
  bounds, ω, Hessian inertia, certification status.

The factors are exact powers of two, so the mapping adds no rounding; a value that overflows or
underflows float64 in the problem's units is refused (:class:`~wpgd.numerics.core.errors.SolverError`).
Values under a ``data`` key (timings, enclosure radii summaries) stay in the rescaled units.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import SolverError

__all__ = ["extreme_exponents", "map_units", "units_note"]

_FEATURE = ("gamma", "enclosure", "invariant_interval", "fixed_points")
_INVERSE = ("mu", "scale", "P", "Q")
_RISK = ("risk", "ci", "fixed_point_risks")
_KEEP = (
    "normalized_risk",
    "normalized_ci",
    "float64_rel_error",
    "data",
    "slope_bounds",
    "residuals",
    "rel_ci_halfwidth",
    "omega",
    "omega_balls",
    "gates",
    "starts",
    "samples",
)
_PARTS = ("mid", "rad", "lo", "hi")


def extreme_exponents(problem) -> tuple[int, int] | None:
    """``(e_s, e_t)`` when the problem lies outside the solver's unit range
    (:data:`wpgd.numerics.core.solver.SCALE_EXPONENT`), else None."""
    from wpgd.numerics.core.solver import SCALE_EXPONENT

    e_s, e_t = problem.scale_exponents()
    return (e_s, e_t) if max(abs(e_s), abs(e_t)) > SCALE_EXPONENT else None


def units_note(e_s: int, e_t: int) -> dict:
    """What :func:`map_units` did, for a result's JSON."""
    return {
        "by": [f"2^{e_s}", f"2^{e_t}"],
        "note": "computed on the problem rescaled to unit scale and mapped back exactly: γ × 2^e_s; "
        "μ, P, Q × 2^-e_s; risks × 2^(e_s+e_t); normalised quantities unchanged",
    }


def _exponent(key: str, e_s: int, e_t: int) -> int | None:
    if key in _FEATURE:
        return e_s
    if key in _INVERSE:
        return -e_s
    if key in _RISK:
        return e_s + e_t
    return None


def map_units(obj, e_s: int, e_t: int, *, as_array: bool = False):
    """Map a result (nested dicts/lists of numbers, numeric strings or arrays) from the rescaled
    problem's units to the problem's units, by key (module docstring).

    Args:
        obj: e.g. ``Optimum.to_dict()``-like dicts, a certificate's ``to_dict()``, stationary points.
        e_s, e_t: the exponents of :meth:`~wpgd.numerics.core.problem.Problem.scale_exponents`.
        as_array: return arrays (instead of lists) for array inputs.

    Raises:
        SolverError: a value not representable in float64 in the problem's units.
    """
    return _walk(obj, None, "", e_s, e_t, as_array)


def _walk(obj, exp, key, e_s, e_t, as_array):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in _KEEP:
                out[k] = v
                continue
            child = _exponent(k, e_s, e_t)
            if child is None and exp is not None and k in _PARTS:
                child = exp
            out[k] = _walk(v, child, k, e_s, e_t, as_array)
        return out
    if isinstance(obj, (list, tuple)):
        return [_walk(v, exp, key, e_s, e_t, as_array) for v in obj]
    if exp is None or obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return _scale_text(obj, exp, key)
    if isinstance(obj, (int, float, np.floating, np.integer, np.ndarray)):
        return _scale(obj, exp, key, as_array)
    return obj


def _scale(x, exp: int, key: str, as_array: bool):
    arr = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(arr, exp)
    if not np.all(np.isfinite(out[np.isfinite(arr)])):
        raise SolverError(
            f"{key} overflows float64 in the problem's units (computed at unit scale, factor 2^{exp})"
        )
    if np.any((arr != 0) & (out == 0)):
        raise SolverError(
            f"{key} underflows float64 in the problem's units (computed at unit scale, factor 2^{exp})"
        )
    if out.ndim == 0:
        return float(out)
    return out if as_array else out.tolist()


def _scale_text(text: str, exp: int, key: str) -> str:
    """A decimal string (an mpmath result) times 2^exp, to the same number of significant digits."""
    import mpmath

    mant = text.strip().lstrip("+-").split("e")[0].split("E")[0]
    digits = max(1, sum(ch.isdigit() for ch in mant.lstrip("0.")))
    try:
        with mpmath.workdps(digits + 20):
            return mpmath.nstr(mpmath.ldexp(mpmath.mpf(text), exp), digits)
    except (ValueError, TypeError):
        return text
