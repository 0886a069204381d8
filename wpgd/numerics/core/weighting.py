"""Best preconditioner for fixed weights, and the best weights in a convex cone (docs/gating.md §5).

Fixed ω (docs/theory.md §5): with ``s = rᵀω``, ``q1 = ωᵀM1ω``, ``q2 = ωᵀM2ω`` and Σ = U Λ Uᵀ,

    P(ω) = s (q1 Σ + q2 I)⁻¹,      L(ω) = r_q tr Σ + σ² − s² Σ_j λ_j² / (q1 λ_j + q2).

Restricting P to rank ≤ ρ keeps the ρ largest λ_j (each term λ²/(q1λ + q2) increases with λ,
and the restricted problem is an Eckart–Young approximation in Σ's eigenbasis).

Cone of weights 𝒞 (a ray, the monotone cone, the non-negative orthant, or all of Rⁿ; both
signs, since L(P, ω) = L(−P, −ω)):
at the optimum (P*, ω*) the preconditioner is ∝ (Σ_ρ + γ I)⁻¹ and ω* minimises the convex
quadratic ``ωᵀ(M1 + μ M2)ω − 2 rᵀω`` over 𝒞 with ``μ = c(P*)/b(P*) = φ_Σ(γ)``, which lies in
``[Σλ²/Σλ³, ρ/Σλ]`` (the range of the decreasing φ_Σ on γ ∈ [0, ∞]). So the class optimum is a
one-dimensional search over μ in that interval of ``L(ω_𝒞(μ))``, with ``ω_𝒞(μ)`` a linear solve
(Rⁿ) or a non-negative least-squares problem on the increments (monotone cone) or on the
weights themselves (non-negative orthant, the ``nonneg`` class of the architecture atlas).

For segment problems every class here (not the fixed-decay one) is invariant under permuting
tokens within a segment, and the objective is convex for fixed P, so averaging a minimiser over
a segment keeps it optimal and feasible (averages of a non-decreasing sequence over consecutive
blocks are non-decreasing): the weights are piecewise constant, ``ω = E w`` with w ∈ R^K, and
everything is K×K, O(n) at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar, nnls

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem

__all__ = [
    "FixedWeightOptimum",
    "best_for_weights",
    "reduced_system",
    "cone_weights",
    "cone_optimum",
    "mu_interval",
]

CONES = ("ray", "monotone", "nonneg", "free")


@dataclass(frozen=True)
class FixedWeightOptimum:
    """Best preconditioner for given weights.

    Attributes:
        risk: L(ω) = min_P L(P, ω) over P of rank ≤ ``rank`` (raw units of y²).
        P: the minimiser, shape (d, d).
        gamma: q2/q1 (P ∝ (Σ + γ I)⁻¹ on its range); inf if q1 = 0.
        mu: φ_Σ restricted to the kept eigenvalues, evaluated at γ.
        rank: number of Σ eigen-directions kept.
    """

    risk: float
    P: np.ndarray
    gamma: float
    mu: float
    rank: int


def _top_eig(problem: Problem, rank: int | None):
    lam, u = problem.sigma_eig  # ascending
    rank = problem.d if rank is None else int(rank)
    if not 0 <= rank <= problem.d:
        raise InvalidProblemError(f"rank must be in [0, {problem.d}], got {rank}")
    keep = slice(problem.d - rank, problem.d)
    return lam[keep], u[:, keep], rank


def best_for_weights(problem: Problem, omega, rank: int | None = None) -> FixedWeightOptimum:
    """min over P (rank ≤ ``rank``) of L(P, ω), in closed form.

    Args:
        problem: the setting.
        omega: weights, shape (n,).
        rank: largest allowed rank of P (default d).

    Returns:
        A :class:`FixedWeightOptimum`.
    """
    omega = np.asarray(omega, dtype=np.float64)
    if omega.shape != (problem.n,):
        raise InvalidProblemError(f"weights ω must have shape ({problem.n},), got {omega.shape}")
    s = float(problem.r_dot(omega))
    q1 = float(problem.quad_m1(omega))
    q2 = float(problem.quad_m2(omega))
    return _best_from_moments(problem, s, q1, q2, rank)


def _best_from_moments(problem: Problem, s: float, q1: float, q2: float, rank) -> FixedWeightOptimum:
    lam, u, rank = _top_eig(problem, rank)
    den = q1 * lam + q2
    use = lam > 0
    d = problem.d
    if s == 0.0 or not np.any(use):
        return FixedWeightOptimum(problem.null_risk, np.zeros((d, d)), np.inf, np.nan, rank)
    if np.any(den[use] <= 0):
        raise InvalidProblemError("ωᵀM1ω and ωᵀM2ω vanish for weights with rᵀω ≠ 0 (inconsistent problem)")
    lam, u, den = lam[use], u[:, use], den[use]
    gain = float(np.sum(lam**2 / den))
    P = (u * (s / den)) @ u.T
    gamma = q2 / q1 if q1 > 0 else np.inf
    mu = _phi_sigma(lam, gamma)
    return FixedWeightOptimum(problem.null_risk - s * s * gain, P, gamma, mu, rank)


def _phi_sigma(lam: np.ndarray, gamma: float) -> float:
    """φ_Σ(γ) = Σ λ²/(λ+γ)² / Σ λ³/(λ+γ)² (limit Σλ²/Σλ³ as γ → ∞)."""
    if not np.isfinite(gamma):
        return float(np.sum(lam**2) / np.sum(lam**3))
    w = lam**2 / (lam + gamma) ** 2
    return float(np.sum(w) / np.sum(w * lam))


def mu_interval(problem: Problem, rank: int | None = None) -> tuple[float, float]:
    """Range of μ = φ_Σ(γ) over γ ∈ [0, ∞]: ``[Σλ²/Σλ³, ρ⁺/Σλ]`` over the kept λ > 0."""
    lam, _, _ = _top_eig(problem, rank)
    lam = lam[lam > 0]
    if lam.size == 0:
        raise InvalidProblemError("Σ has no positive eigenvalue in the allowed rank")
    lo = float(np.sum(lam**2) / np.sum(lam**3))
    hi = float(lam.size / np.sum(lam))
    return min(lo, hi), max(lo, hi)


def reduced_system(problem: Problem):
    """The quadratic forms on the reduced weights (w ∈ R^K for segment problems, ω ∈ Rⁿ else).

    Returns:
        (A1, A2, b, expand): A1 = EᵀM1E, A2 = EᵀM2E (shape (m, m)), b = Eᵀr (shape (m,)), and a
        function mapping reduced weights (m,) to token weights (n,).
    """
    if problem.is_segmented:
        sizes = np.asarray(problem.segment_sizes, dtype=np.float64)
        cmat, cvec = problem.segment_correlation, problem.query_correlation
        cdiag = np.diag(cmat)
        a1 = sizes[:, None] * cmat * sizes[None, :] + np.diag(sizes * cdiag)
        a2 = np.diag(sizes * (problem.trace_sigma * cdiag + problem.noise))
        idx = problem.segment_index
        return a1, a2, sizes * cvec, lambda w: np.asarray(w, dtype=np.float64)[idx]
    return problem.m1_matrix(), problem.m2_matrix(), np.array(problem.r), lambda w: np.asarray(w, np.float64)


def cone_weights(a: np.ndarray, b: np.ndarray, cone: str) -> np.ndarray:
    """argmin over 𝒞 ∪ −𝒞 of ``wᵀAw − 2bᵀw`` (one of the two signs; the better one).

    Args:
        a: PSD matrix, shape (m, m).
        b: shape (m,).
        cone: "ray" (w ∝ 1), "monotone" (0 ≤ w_1 ≤ … ≤ w_m), "nonneg" (w ≥ 0) or "free" (Rᵐ).

    Returns:
        w, shape (m,) (zero if no direction of 𝒞 ∪ −𝒞 decreases the quadratic).
    """
    m = b.size
    a = 0.5 * (a + a.T) + 1e-14 * max(float(np.max(np.diag(a))), 1e-300) * np.eye(m)
    if cone == "free":
        return np.linalg.solve(a, b)
    if cone == "ray":
        one = np.ones(m)
        return one * (float(one @ b) / float(one @ a @ one))
    if cone not in ("monotone", "nonneg"):
        raise InvalidProblemError(f"cone must be one of {CONES}, got {cone!r}")
    f = np.linalg.cholesky(a).T  # A = FᵀF
    # w = L δ with δ ≥ 0: L lower-triangular ones (monotone: δ are the increments) or I (nonneg)
    lower = np.tril(np.ones((m, m))) if cone == "monotone" else np.eye(m)
    rhs = np.linalg.solve(f.T, b)
    best, best_val = np.zeros(m), 0.0
    for sgn in (1.0, -1.0):
        delta, _ = nnls(f @ lower, sgn * rhs)
        w = sgn * (lower @ delta)
        val = float(w @ a @ w - 2 * b @ w)
        if val < best_val:
            best, best_val = w, val
    return best


def cone_optimum(problem: Problem, cone: str, rank: int | None = None, grid: int = 41, system=None):
    """Global optimum of L(P, ω) over ω in a cone (both signs) and P of rank ≤ ``rank``.

    One-dimensional search over μ ∈ :func:`mu_interval` (grid, then bounded Brent around the best
    grid point) of the fixed-ω risk of ``ω_𝒞(μ)`` (see the module docstring).

    Args:
        system: a reduced system ``(A1, A2, b, expand)`` to use instead of
            :func:`reduced_system` (e.g. ω = B c restricted to the span of a basis B:
            A1 = BᵀM1B, A2 = BᵀM2B, b = Bᵀr, expand c ↦ Bc).

    Returns:
        (fixed, omega, w, mu_search): the :class:`FixedWeightOptimum` at the optimum, the token
        weights ω (n,), the reduced weights (K,) or (n,), and the μ at which they were found.
    """
    a1, a2, b, expand = reduced_system(problem) if system is None else system
    lo, hi = mu_interval(problem, rank)

    def weights(mu):
        return cone_weights(a1 + mu * a2, b, cone)

    def value(log_mu):
        w = weights(np.exp(log_mu))
        return _risk_reduced(problem, a1, a2, b, w, rank)

    if hi - lo <= 1e-12 * hi or cone == "ray":
        mu = hi
    else:
        xs = np.linspace(np.log(lo), np.log(hi), grid)
        vals = np.array([value(x) for x in xs])
        i = int(np.argmin(vals))
        left, right = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]
        res = minimize_scalar(value, bounds=(left, right), method="bounded", options={"xatol": 1e-10})
        mu = float(np.exp(res.x)) if res.fun <= vals[i] else float(np.exp(xs[i]))
    w = weights(mu)
    scale = _normaliser(w, cone)
    w = w / scale
    omega = expand(w)
    return best_for_weights(problem, omega, rank), omega, w, mu


def _normaliser(w: np.ndarray, cone: str) -> float:
    """Scale making the weight nearest the query 1 (ray, monotone) or the largest |w| 1 (free)."""
    if not np.any(w):
        return 1.0
    if cone in ("ray", "monotone") and w[-1] != 0:
        return float(w[-1])
    return float(w[np.argmax(np.abs(w))])


def _risk_reduced(problem, a1, a2, b, w, rank) -> float:
    s, q1, q2 = float(b @ w), float(w @ a1 @ w), float(w @ a2 @ w)
    return _best_from_moments(problem, s, q1, q2, rank).risk
