"""All fixed points of an increasing map T on its invariant interval, in log scale.

Let ``T = φ_R ∘ φ_Σ``: increasing, with ``T(0) ≤ T(γ) ≤ T(∞)``, so every fixed point lies in
the invariant interval ``I = [T(0), T(∞)]``. In ``x = log γ`` the fixed points are the roots of

    G(x) = log T(eˣ) − x,      G(log T(0)) ≥ 0 ≥ G(log T(∞)).

Search (docs/solver.md):

1. *Sign scan with monotone exclusion.* On a cell ``[x_i, x_{i+1}]``, because T is increasing,
   ``G(x) ∈ [log T(x_i) − x_{i+1}, log T(x_{i+1}) − x_i]``; if that range excludes 0 the cell
   has no root (a derivative-free bound). Cells that cannot be excluded are bisected (all of a
   level evaluated in one vectorised call) down to a minimum width.
2. *Safeguarded root finding.* Every cell with a sign change is handed to Brent's method
   (``scipy.optimize.brentq``), which never leaves its bracket.
3. *Derivative bound.* The slope of G is ``E(x) − 1`` with ``E = d log T / d log γ``. Cells
   left at the minimum width without a sign change are near-tangencies (two roots closer than
   the width, or none); they are reported, not hidden.

The float64 result is a numerical statement; :mod:`wpgd.numerics.exact.highprec` repeats the exclusion and
the slope bound in interval arithmetic for a certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

__all__ = ["FixedPointScan", "find_fixed_points"]


@dataclass(frozen=True)
class FixedPointScan:
    """Outcome of :func:`find_fixed_points`.

    Attributes:
        roots: fixed points γ, ascending.
        interval: the invariant interval (T(0), T(∞)).
        unresolved: (γ_lo, γ_hi) cells at the minimum width that could be neither excluded nor
            bracketed (possible tangential double roots).
        evaluations: number of T evaluations (vectorised points count individually).
        brent_iterations: total Brent iterations.
    """

    roots: tuple[float, ...]
    interval: tuple[float, float]
    unresolved: tuple[tuple[float, float], ...] = field(default=())
    evaluations: int = 0
    brent_iterations: int = 0


def find_fixed_points(
    log_t: Callable[[np.ndarray], np.ndarray],
    lo: float,
    hi: float,
    *,
    grid: int = 64,
    min_width: float = 1e-9,
    max_cells: int = 4096,
) -> FixedPointScan:
    """Every fixed point of an increasing map on [lo, hi] (its invariant interval).

    Args:
        log_t: vectorised ``x ↦ log T(eˣ)`` (x = log γ), shape-preserving.
        lo, hi: T(0) and T(∞), 0 < lo ≤ hi.
        grid: initial number of log-uniform cells.
        min_width: smallest cell width in x, relative to max(1, |x|).
        max_cells: cap on the number of cells kept per bisection level.

    Returns:
        A :class:`FixedPointScan`.
    """
    xa, xb = float(np.log(lo)), float(np.log(hi))
    width_floor = min_width * max(1.0, abs(xa), abs(xb))
    if xb - xa <= width_floor:
        # T is constant to rounding on its invariant interval: its value is the fixed point.
        x = float(log_t(np.array([0.5 * (xa + xb)]))[0])
        return FixedPointScan(roots=(float(np.exp(x)),), interval=(lo, hi), evaluations=1)

    xs = np.linspace(xa, xb, grid + 1)
    ys = np.asarray(log_t(xs), dtype=np.float64)
    evals = xs.size
    # Cells are rows (x0, x1, y0, y1) with y = log T(e^x); contiguous by construction.
    cells = np.stack([xs[:-1], xs[1:], ys[:-1], ys[1:]], axis=1)
    capped = False
    while True:
        excluded = (cells[:, 3] < cells[:, 0]) | (cells[:, 2] > cells[:, 1])
        cells = cells[~excluded]
        if cells.size == 0 or np.all(cells[:, 1] - cells[:, 0] <= width_floor):
            break
        if 2 * cells.shape[0] > max_cells:
            capped = True
            break
        mid = 0.5 * (cells[:, 0] + cells[:, 1])
        ymid = np.asarray(log_t(mid), dtype=np.float64)
        evals += mid.size
        halves = np.concatenate(
            [
                np.stack([cells[:, 0], mid, cells[:, 2], ymid], axis=1),
                np.stack([mid, cells[:, 1], ymid, cells[:, 3]], axis=1),
            ]
        )
        cells = halves[np.argsort(halves[:, 0], kind="stable")]

    roots, unresolved, iters = [], [], 0
    scalar = lambda x: float(log_t(np.array([x]))[0]) - x  # noqa: E731
    for cluster in _clusters(cells):
        g = np.concatenate([cluster[:, 2] - cluster[:, 0], cluster[-1:, 3] - cluster[-1:, 1]])
        x = np.concatenate([cluster[:, 0], cluster[-1:, 1]])
        found = False
        for i in range(g.size):
            if g[i] == 0:
                roots.append(x[i])
                found = True
            elif i + 1 < g.size and g[i] * g[i + 1] < 0:
                root, info = brentq(
                    scalar, x[i], x[i + 1], xtol=1e-15 * max(1.0, abs(x[i])), rtol=8.9e-16, full_output=True
                )
                iters += info.iterations
                evals += info.function_calls
                roots.append(root)
                found = True
        if not found or capped:
            unresolved.append((float(np.exp(x[0])), float(np.exp(x[-1]))))
    roots = _dedupe(sorted(roots), width_floor)
    return FixedPointScan(
        roots=tuple(float(np.exp(x)) for x in roots),
        interval=(lo, hi),
        unresolved=tuple(unresolved),
        evaluations=int(evals),
        brent_iterations=int(iters),
    )


def _clusters(cells: np.ndarray):
    """Split sorted cells (rows x0, x1, y0, y1) into runs of contiguous cells."""
    if cells.size == 0:
        return []
    breaks = np.nonzero(cells[1:, 0] != cells[:-1, 1])[0] + 1
    return np.split(cells, breaks)


def _dedupe(xs: list[float], tol: float) -> list[float]:
    out = []
    for x in xs:
        if not out or x - out[-1] > tol:
            out.append(x)
    return out
