"""Brute force over an architecture's own parameters: the independent check of the atlas optima
(docs/theory.md §8.4).

The risk is minimised over the gate parameters of :func:`~wpgd.numerics.core.atlas_params.weights_from_parameters`
(one value per token type: Δ/A for Mamba2, gate logits for GLA/RWKV-6, forget and input gates for
mLSTM) with the best preconditioner for the resulting ω in closed form
(:func:`~wpgd.numerics.core.weighting.best_for_weights`), from the best of many random parameter
vectors (bounded L-BFGS-B). It never uses the class the theory derives: on a small instance, the class optimum must
not be beaten (the parameters realise members of the class) and must be approached (the class is
the closure of what they realise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from wpgd.numerics.core.atlas_params import num_parameters, token_layout, weights_from_parameters
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.vocabulary import ARCHITECTURES
from wpgd.numerics.core.weighting import best_for_weights

__all__ = ["BruteForce", "brute_force_optimum"]

BOUND = 40.0
"""Every gate parameter is searched in [−BOUND, BOUND] (sigmoid(40) = 1 − 4e−18), except those
entering through exp(·) (RWKV-6's decay −exp(a), Mamba2's A = −exp(A_log)), searched in
[−BOUND, EXP_BOUND]: beyond it the decay is already e^(−55) and the risk is flat, which stalls
a gradient search."""

EXP_BOUND = 4.0


@dataclass(frozen=True)
class BruteForce:
    """Best risk found over the architecture's parameters.

    Attributes:
        risk: best risk found (raw units of y²).
        normalized_risk: risk / (r_q tr Σ + σ²).
        theta: the parameters that reached it.
        omega: their weights, shape (n,).
        starts: number of multi-starts.
    """

    risk: float
    normalized_risk: float
    theta: np.ndarray
    omega: np.ndarray
    starts: int


def brute_force_optimum(problem: Problem, name: str, *, context: str = "none", groups: int | None = None,
                        starts: int = 6, samples: int = 2000, seed: int = 0) -> BruteForce:
    """min over the gate parameters of ``name`` (and P in closed form) of the WPGD risk.

    Args:
        problem: a small problem (dense ones form n×n matrices).
        name: a WPGD architecture.
        context: "none" or "onehot".
        groups: channel groups of the vector-gated architectures (default 2: key width 2d), or
            heads sharing P (default 1) of the others.
        starts: local searches (bounded L-BFGS-B), started from the best of the samples.
        samples: random parameter vectors evaluated first (half N(0, 4²), half uniform in
            [−12, 12], within the bounds).
        seed: seed of the samples.

    Returns:
        A :class:`BruteForce`.
    """
    layout = token_layout(problem, context)
    if groups is None:
        groups = 2 if ARCHITECTURES[name].gating == "vector" else 1
    k = num_parameters(name, layout, groups)

    def value(theta):
        with np.errstate(all="ignore"):
            w = weights_from_parameters(name, layout, theta, groups)
            if not np.all(np.isfinite(w)):
                return problem.null_risk
            return best_for_weights(problem, w).risk

    if k == 0:
        theta = np.zeros(0)
        r = value(theta)
        return BruteForce(r, r / problem.null_risk, theta, weights_from_parameters(name, layout, theta), 1)
    bounds = [(-BOUND, BOUND)] * k
    t = layout.num_types
    if name == "rwkv6":
        bounds[:groups * t] = [(-BOUND, EXP_BOUND)] * (groups * t)
    if name == "mamba2":
        for h in range(groups):
            bounds[h * (t + 1) + t] = (-BOUND, EXP_BOUND)
    lo, hi = np.array(bounds).T
    rng = np.random.default_rng(seed)
    # global phase: many random points (half N(0, 4²), half uniform in [−12, 12]), then a local
    # bounded search from the best few of them
    half = samples // 2
    pts = np.concatenate([rng.normal(0.0, 4.0, (half, k)),
                          rng.uniform(np.maximum(lo, -12.0), np.minimum(hi, 12.0), (samples - half, k))])
    pts = np.clip(pts, lo, hi)
    vals = np.array([value(p) for p in pts])
    best_x, best_v = None, np.inf
    for i in np.argsort(vals)[:starts]:
        res = minimize(value, pts[i], method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-12})
        if res.fun < best_v:
            best_x, best_v = res.x, float(res.fun)
    assert best_x is not None
    return BruteForce(best_v, best_v / problem.null_risk, best_x,
                      weights_from_parameters(name, layout, best_x, groups), starts)
