"""Optima over weights in the span of a few fixed sequences, and over sums of geometric groups
(docs/theory.md §8.2–8.3): the atlas rows that are not a cone class of §5.6.

* :func:`span_optimum`: ω = B c, c ∈ R^G free (e.g. RetNet with H heads sharing P: the span of
  the H fixed decays). The quadratic forms BᵀM1B, BᵀM2B, Bᵀr come from the problem's batched
  forms by polarisation, so segment problems never form an n×n matrix.
* :func:`geometric_groups_optimum`: a dense prompt (no delimiters) where every demonstration
  shares every gate: a gate group contributes a geometric sequence; the best of one group
  (rank P ≤ ``rank_one``) and two groups ``c_1 r_1^{n−i} + c_2 r_2^{n−i}`` (rank P ≤ ``rank_two``;
  grid over (r_1, r_2), then Nelder–Mead on their logits).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import minimize

from wpgd.numerics.core.classes import ClassOptimum, class_optimum, geometric_weights
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.weighting import cone_optimum

__all__ = ["span_system", "span_optimum", "geometric_groups_optimum"]


def span_system(problem: Problem, basis: np.ndarray):
    """The reduced system ``(BᵀM1B, BᵀM2B, Bᵀr, c ↦ Bc)`` of ω = B c (``basis``: shape (n, G))."""
    basis = np.asarray(basis, dtype=np.float64)
    g = basis.shape[1]

    def gram(quad):  # one O(n) form per pair: never more than two n-vectors at a time
        diag = np.array([float(quad(basis[:, i])) for i in range(g)])
        out = np.diag(diag)
        for i in range(g):
            for j in range(i + 1, g):
                out[i, j] = out[j, i] = 0.5 * (float(quad(basis[:, i] + basis[:, j])) - diag[i] - diag[j])
        return out

    return (gram(problem.quad_m1), gram(problem.quad_m2), problem.r_dot(basis.T),
            lambda c: basis @ np.asarray(c, dtype=np.float64))


def span_optimum(problem: Problem, basis: np.ndarray, rank: int | None = None, grid: int = 15):
    """min over c ∈ R^G and P (rank ≤ ``rank``) of L(P, Bc): ``cone_optimum`` on the span system.

    Returns:
        (fixed, omega, c, mu) as :func:`~wpgd.numerics.core.weighting.cone_optimum`.
    """
    return cone_optimum(problem, "free", rank, grid=grid, system=span_system(problem, basis))


def _geometric_basis(n: int, ratios) -> np.ndarray:
    return np.stack([geometric_weights(n, float(r)) for r in ratios], axis=1)


def geometric_groups_optimum(problem: Problem, rank_one: int, rank_two: int) -> ClassOptimum:
    """Best of one geometric group (rank P ≤ ``rank_one``; the ``geometric`` class when it is d)
    and two groups ω = c_1 r_1^{n−i} + c_2 r_2^{n−i} (rank P ≤ ``rank_two``), on a dense problem.

    Returns:
        A :class:`~wpgd.numerics.core.classes.ClassOptimum` (``cls`` and ``label`` for the caller
        to set) with ``details``: ratios, coefficients, groups, realised_class
        "geometric-groups", closure True, searched_groups 2.
    """
    d, n = problem.d, problem.n
    best = None
    if rank_one >= d:
        one = class_optimum(problem, "geometric")
        best = replace(one, details={"ratios": [one.details["decay"]], "coefficients": [1.0],
                                     "gamma": one.details["gamma"], "groups": 1})
    elif rank_one >= 1:  # one rank-limited group: a search over its ratio
        rs = np.unique(np.concatenate([1.0 - 10.0 ** (-np.linspace(0.0, np.log10(max(n, 2)) + 3.0, 40)),
                                       np.linspace(0.0, 1.0, 21)]))
        fits = [span_optimum(problem, _geometric_basis(n, [r]), rank_one) for r in rs]
        i = int(np.argmin([f[0].risk for f in fits]))
        fixed, omega, c, mu = fits[i]
        best = ClassOptimum(cls="", risk=float(fixed.risk), normalized_risk=float(fixed.risk / problem.null_risk),
                            P=np.asarray(fixed.P), omega=np.asarray(omega), label="",
                            details={"ratios": [float(rs[i])], "coefficients": np.asarray(c).tolist(),
                                     "gamma": fixed.gamma, "mu": mu, "rank": fixed.rank, "groups": 1})
    if rank_two >= 1 and n >= 2:
        ts = np.linspace(0.0, np.log10(max(n, 2)) + 3.0, 7)
        grid = np.unique(np.concatenate([1.0 - 10.0 ** (-ts), [0.0, 0.5]]))
        cands = [(a, b) for i, a in enumerate(grid) for b in grid[i + 1:]]

        def risk_at(ratios):
            return span_optimum(problem, _geometric_basis(n, ratios), rank_two)[0].risk

        vals = [risk_at(c) for c in cands]
        start = np.asarray(cands[int(np.argmin(vals))])
        z0 = np.log(np.clip(start, 1e-12, 1 - 1e-15) / np.clip(1 - start, 1e-15, None))
        res = minimize(lambda z: risk_at(1.0 / (1.0 + np.exp(-z))), z0, method="Nelder-Mead",
                       options={"xatol": 1e-6, "fatol": 1e-13, "maxiter": 200})
        ratios = 1.0 / (1.0 + np.exp(-res.x)) if res.fun <= min(vals) else start
        fixed, omega, c, mu = span_optimum(problem, _geometric_basis(n, ratios), rank_two)
        if best is None or fixed.risk < best.risk:
            best = ClassOptimum(cls="", risk=float(fixed.risk), normalized_risk=float(fixed.risk / problem.null_risk),
                                P=np.asarray(fixed.P), omega=np.asarray(omega), label="",
                                details={"ratios": np.asarray(ratios).tolist(), "coefficients": np.asarray(c).tolist(),
                                         "gamma": fixed.gamma, "mu": mu, "rank": fixed.rank, "groups": 2})
    if best is None:
        raise ValueError("no geometric group fits the rank limits")
    return replace(best, details=dict(best.details, realised_class="geometric-groups", closure=True,
                                      searched_groups=2))
