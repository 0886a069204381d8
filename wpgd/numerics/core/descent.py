"""Reference path for the optimum: the closed-form risk's gradient and Hessian, and multi-start
gradient-based minimisation (BFGS on L, Gauss–Newton on ‖∇L‖²).

This is the naive, obviously-correct twin of :mod:`wpgd.numerics.core.solver`: it knows nothing about
secular functions or fixed points. With θ = (vec P, ω) (row-major vec):

    ∇_P L = −2u Σ² + 2B ΣPΣ² + 2Cq ΣPΣ,         ∇_ω L = −2a r + 2b M1ω + 2c M2ω,
    H_PP  = 2B (Σ ⊗ Σ²) + 2Cq (Σ ⊗ Σ),          H_ωω  = 2b M1 + 2c M2,
    H_Pω  = −2 vec(Σ²) rᵀ + 2 vec(ΣPΣ²)(2M1ω)ᵀ + 2 vec(ΣPΣ)(2M2ω)ᵀ,

with a, b, c the traces of :func:`wpgd.numerics.core.risk.preconditioner_terms` and u = rᵀω,
B = ωᵀM1ω, Cq = ωᵀM2ω. Dense matrices throughout: small problems only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, minimize

from wpgd.numerics.core.problem import Problem

__all__ = ["DescentRun", "risk_and_grad", "risk_hessian", "balanced_gradient", "multistart_bfgs", "multistart_stationary"]


def _pieces(problem: Problem):
    key = "_descent_pieces"
    cache = problem._cache
    if key not in cache:
        sig = problem.sigma
        cache[key] = (sig, sig @ sig, problem.r, problem.m1_matrix(), problem.m2_diag)
    return cache[key]


def risk_and_grad(problem: Problem, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """L and ∇L at θ = (vec P, ω).

    Args:
        theta: shape (d² + n,).

    Returns:
        (L, ∇L), ∇L of shape (d² + n,).
    """
    d = problem.d
    sig, s2, r, m1, m2 = _pieces(problem)
    P = theta[: d * d].reshape(d, d)
    w = theta[d * d:]
    sp = sig @ P
    sps2, sps = sp @ s2, sp @ sig
    a, b, c = float(np.sum(P * s2)), float(np.sum(P * sps2)), float(np.sum(P * sps))
    m1w, m2w = m1 @ w, m2 * w
    u, B, Cq = float(r @ w), float(w @ m1w), float(w @ m2w)
    L = problem.null_risk - 2 * a * u + b * B + c * Cq
    gP = -2 * u * s2 + 2 * B * sps2 + 2 * Cq * sps
    gw = -2 * a * r + 2 * b * m1w + 2 * c * m2w
    return L, np.concatenate([gP.ravel(), gw])


def risk_hessian(problem: Problem, theta: np.ndarray) -> np.ndarray:
    """The Hessian of L at θ = (vec P, ω), shape (d² + n, d² + n)."""
    d = problem.d
    sig, s2, r, m1, m2 = _pieces(problem)
    P = theta[: d * d].reshape(d, d)
    w = theta[d * d:]
    sp = sig @ P
    b, c = float(np.sum(P * (sp @ s2))), float(np.sum(P * (sp @ sig)))
    m1w, m2w = m1 @ w, m2 * w
    B, Cq = float(w @ m1w), float(w @ m2w)
    hpp = 2 * B * np.kron(sig, s2) + 2 * Cq * np.kron(sig, sig)
    hww = 2 * b * m1 + 2 * c * np.diag(m2)
    hpw = (
        -2 * np.outer(s2.ravel(), r)
        + np.outer(2 * (sp @ s2).ravel(), 2 * m1w)
        + np.outer(2 * (sp @ sig).ravel(), 2 * m2w)
    )
    return np.block([[hpp, hpw], [hpw.T, hww]])


def balanced_gradient(problem: Problem, P: np.ndarray, omega: np.ndarray) -> float:
    """‖∇L‖ at the rescaled point (tP, ω/t) with ‖tP‖_F = ‖ω/t‖ (scale-invariant stopping test).

    L is constant along (tP, ω/t) but its gradient is not: a run that drifts to huge P and tiny ω
    has a tiny gradient without being near a stationary point. Rebalancing removes that.
    """
    nP, nw = float(np.linalg.norm(P)), float(np.linalg.norm(omega))
    t = np.sqrt(nw / nP) if nP > 0 and nw > 0 else 1.0
    return float(np.linalg.norm(risk_and_grad(problem, np.concatenate([(t * P).ravel(), omega / t]))[1]))


@dataclass(frozen=True)
class DescentRun:
    """One local run.

    Attributes:
        P: final preconditioner, shape (d, d).
        omega: final weights, shape (n,).
        risk: final L.
        grad_norm: final ‖∇L‖.
        start_grad_norm: ‖∇L‖ at the start (the scale for "small").
        success: the optimiser's own verdict.
    """

    P: np.ndarray
    omega: np.ndarray
    risk: float
    grad_norm: float
    start_grad_norm: float
    success: bool

    @property
    def relative_grad(self) -> float:
        """‖∇L(end)‖ / ‖∇L(start)‖."""
        return self.grad_norm / self.start_grad_norm if self.start_grad_norm > 0 else 0.0


def _start(problem: Problem, rng: np.random.Generator) -> np.ndarray:
    d, n = problem.d, problem.n
    lam_max = max(float(problem.sigma_eig[0][-1]), 1e-300)
    P = rng.normal(size=(d, d)) / (lam_max * d * np.exp(rng.uniform(-1, 1)))
    w = rng.normal(size=n) * np.exp(rng.uniform(-1, 1)) / np.sqrt(n)
    return np.concatenate([P.ravel(), w])


def _run(problem, theta, success, g0: float) -> DescentRun:
    d = problem.d
    L, g = risk_and_grad(problem, theta)
    return DescentRun(
        P=theta[: d * d].reshape(d, d).copy(), omega=theta[d * d:].copy(), risk=float(L),
        grad_norm=float(np.linalg.norm(g)), start_grad_norm=g0, success=bool(success),
    )


def multistart_bfgs(problem: Problem, starts: int, seed: int = 0, gtol: float = 1e-11) -> list[DescentRun]:
    """BFGS on the closed-form risk from ``starts`` random points, each polished by Newton steps.

    Args:
        problem: a small problem (dense matrices of size d² + n are formed).
        starts: number of random starts.
        seed: RNG seed.
        gtol: BFGS gradient tolerance.

    Returns:
        One :class:`DescentRun` per start.
    """
    rng = np.random.default_rng(seed)
    fun = lambda th: risk_and_grad(problem, th)  # noqa: E731
    runs = []
    for _ in range(starts):
        th0 = _start(problem, rng)
        g0 = float(np.linalg.norm(fun(th0)[1]))
        res = minimize(fun, th0, jac=True, method="BFGS", options={"gtol": gtol, "maxiter": 20000})
        th = _newton_polish(problem, res.x)
        runs.append(_run(problem, th, res.success, g0))
    return runs


def multistart_stationary(problem: Problem, starts: int, seed: int = 0) -> list[DescentRun]:
    """Gauss–Newton (Levenberg–Marquardt) on ‖∇L‖² from random starts: finds saddles too."""
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(starts):
        th0 = _start(problem, rng) * np.exp(rng.uniform(-2, 2))
        g0 = float(np.linalg.norm(risk_and_grad(problem, th0)[1]))
        res = least_squares(
            lambda th: risk_and_grad(problem, th)[1], th0, jac=lambda th: risk_hessian(problem, th),
            method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=4000,
        )
        runs.append(_run(problem, res.x, res.success, g0))
    return runs


def _newton_polish(problem: Problem, theta: np.ndarray, steps: int = 3) -> np.ndarray:
    """A few least-squares Newton steps (pseudo-inverse: the Hessian is singular along the
    scaling direction), kept only while they reduce the gradient."""
    th = theta
    g = risk_and_grad(problem, th)[1]
    for _ in range(steps):
        H = risk_hessian(problem, th)
        step = np.linalg.lstsq(H, g, rcond=1e-12)[0]
        cand = th - step
        gc = risk_and_grad(problem, cand)[1]
        if np.linalg.norm(gc) >= np.linalg.norm(g):
            break
        th, g = cand, gc
    return th
