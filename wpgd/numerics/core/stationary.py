"""Stationary points of L(P, ω) and their type (the paper's Theorem 2; docs/solver.md §3).

With ``u = rᵀω``, ``B = ωᵀM1ω``, ``Cq = ωᵀM2ω``:
``∇_P L = 2Σ[−u I + P(BΣ + Cq I)]Σ`` and ``∇_ω L = −2a r + 2(b M1 + c M2) ω``. Writing P̃ = UᵀPU
(restricted to the range of Σ) and ω on the kept tokens, every stationary point is in

* the *origin* P̃ = 0, ω = 0;
* family **D1**: ω = 0 and a(P) = tr(PΣ²) = 0 (P ≠ 0) — saddles when r ≠ 0;
* family **D2**: P̃ = 0 and rᵀω = 0 (ω ≠ 0) — saddles when r ≠ 0;
* one *ray* {(t P̂(γ), ω̂(μ)·τ/t) : t ≠ 0} per fixed point γ = φ_R(φ_Σ(γ)), μ = φ_Σ(γ),
  τ = 1 + γμ (the optimal scale).

Hessian inertia. In the coordinates (P̃ in Σ's eigenbasis, ω = V y in the generalised eigenbasis
V of (M1, M2)) — a congruence, so inertia is preserved (Sylvester) — the off-diagonal entries
P̃_ij and the uninformative/hidden y_k decouple at every representative used here (all have
diagonal P̃ and y_k = 0 where s_k = 0). Their curvatures are explicit:

* P̃_ij, i ≠ j in the range: ``2λ_iλ_j(λ_j B + Cq)``; entries touching null(Σ): 0;
* hidden zero-sum token directions of a segment (ρ, s = 0): ``2(bρ + c)``; dropped tokens: 0;

and the rest is the (d_+ + m)×(d_+ + m) *reduced Hessian* of
``ℓ(p, y) = N − 2(Σλ²p)(Σ s y) + (Σλ³p²)(Σρy²) + (Σλ²p²)(Σy²)``. :func:`classify` adds the
counts; :func:`wpgd.numerics.core.descent.risk_hessian` is the dense reference the tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import json_clean
from wpgd.numerics.core.solver import Optimum, profile_risk, solve
from wpgd.numerics.core.spectra import FeatureSpectrum, TaskSpectrum, feature_spectrum, task_spectrum

__all__ = ["StationaryPoint", "classify", "membership", "reduced_hessian", "inertia_at", "ZERO_RTOL"]

ZERO_RTOL = 1e-9
"""A Hessian eigenvalue with |h| ≤ ZERO_RTOL · max|h| counts as zero."""

REPRESENTATIVE_LIMIT = 200_000
"""Representatives' ω (length n) are stored only up to this n (inertia is computed regardless)."""


@dataclass(frozen=True)
class StationaryPoint:
    """One stationary family or ray with the Hessian inertia at a representative.

    Attributes:
        kind: "origin", "D1", "D2" or "ray".
        description: the defining equations in words.
        inertia: (positive, negative, zero) eigenvalue counts of the full Hessian.
        expected_zeros: zero eigenvalues forced by symmetries (scaling, null(Σ), dropped tokens).
        type: "minimum", "saddle", or "degenerate" (second-order test inconclusive).
        risk: L on the family/ray (N for the degenerate families).
        gamma, mu: for rays.
        global_min: True for the ray of lowest risk.
        P: the representative's preconditioner, shape (d, d).
        omega: the representative's weights, shape (n,) (None if n > REPRESENTATIVE_LIMIT).
    """

    kind: str
    description: str
    inertia: tuple[int, int, int]
    expected_zeros: int
    type: str
    risk: float
    gamma: float | None = None
    mu: float | None = None
    global_min: bool = False
    P: np.ndarray | None = field(default=None, repr=False, compare=False)
    omega: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (with ``arrays``, the representative's P and ω)."""
        out = {
            "kind": self.kind, "description": self.description, "inertia": list(self.inertia),
            "expected_zeros": self.expected_zeros, "type": self.type, "risk": self.risk,
            "gamma": self.gamma, "mu": self.mu, "global_min": self.global_min,
        }
        if arrays:
            out.update(P=self.P, omega=self.omega)
        return json_clean(out)


def reduced_hessian(
    feat: FeatureSpectrum, task: TaskSpectrum, p: np.ndarray, y: np.ndarray, hidden_bc=(0.0, 0.0)
) -> np.ndarray:
    """Hessian of ℓ(p, y) (module docstring), shape (d_+ + m, d_+ + m).

    Args:
        p: diagonal of P̃ on the range of Σ, shape (d_+,).
        y: coordinates of ω in the generalised eigenbasis, shape (m,).
        hidden_bc: contributions (ωᵀM1ω, ωᵀM2ω) of a component of ω along hidden directions
            (only used at p = 0, where hidden directions couple to nothing else).
    """
    lam, rho, s = feat.lam, task.rho, task.s
    b, c = float(np.sum(lam**3 * p * p)), float(np.sum(lam**2 * p * p))
    B = float(np.sum(rho * y * y)) + hidden_bc[0]
    Cq = float(np.sum(y * y)) + hidden_bc[1]
    hpp = np.diag(2 * B * lam**3 + 2 * Cq * lam**2)
    hyy = np.diag(2 * b * rho + 2 * c)
    hpy = -2 * np.outer(lam**2, s) + 4 * np.outer(p * lam**3, rho * y) + 4 * np.outer(p * lam**2, y)
    return np.block([[hpp, hpy], [hpy.T, hyy]])


def inertia_at(
    problem: Problem, feat: FeatureSpectrum, task: TaskSpectrum, p, y, hidden_bc=(0.0, 0.0)
) -> tuple[tuple[int, int, int], int]:
    """Inertia of the full Hessian at the representative (P̃ = diag(p), ω = V y [+ hidden part]).

    Returns:
        ((n_+, n_−, n_0), zeros forced by symmetries other than scaling: null(Σ), dropped tokens).
    """
    lam = feat.lam
    h = np.linalg.eigvalsh(reduced_hessian(feat, task, p, y, hidden_bc))
    b, c = float(np.sum(lam**3 * p * p)), float(np.sum(lam**2 * p * p))
    B = float(np.sum(task.rho * y * y)) + hidden_bc[0]
    Cq = float(np.sum(y * y)) + hidden_bc[1]
    off = 2 * np.outer(lam, lam) * (lam[None, :] * B + Cq)
    off = off[~np.eye(lam.size, dtype=bool)]
    hid = np.array([2 * (b * rho + c) for rho, _ in task.hidden])
    mult = np.array([k for _, k in task.hidden], dtype=np.int64)
    scale = max([float(np.max(np.abs(v))) for v in (h, off, hid) if v.size] + [0.0])
    tol = ZERO_RTOL * scale
    pos = int(np.sum(h > tol)) + int(np.sum(off > tol)) + int(np.sum(mult[hid > tol]))
    neg = int(np.sum(h < -tol))
    total = problem.d**2 + problem.n
    symmetric_zeros = problem.d**2 - feat.rank**2 + task.dropped
    return (pos, neg, total - pos - neg), symmetric_zeros


def classify(problem: Problem, optimum: Optimum | None = None) -> list[StationaryPoint]:
    """Enumerate the stationary families and rays of L with their Hessian inertia.

    Args:
        problem: the setting.
        optimum: a previous :func:`wpgd.numerics.core.solver.solve` result (solved if None).

    Returns:
        The degenerate families (origin, D1, D2 — those that exist) and one ray per fixed point.
    """
    opt = solve(problem) if optimum is None else optimum
    feat = feature_spectrum(problem)
    task = task_spectrum(problem, structured=opt.method == "segments")
    N = problem.null_risk
    m = task.rho.size
    out = []

    def add(kind, desc, p, y, zeros_extra, hidden_bc=(0.0, 0.0), **kw):
        (pos, neg, zero), sym = inertia_at(problem, feat, task, p, y, hidden_bc)
        expected = sym + zeros_extra
        typ = "saddle" if neg > 0 else ("minimum" if zero <= expected else "degenerate")
        P = (feat.basis * p) @ feat.basis.T
        omega = None
        if problem.n <= REPRESENTATIVE_LIMIT:
            omega = task.expand(task.basis @ y)
            if hidden_bc[1] > 0:
                omega = omega + _hidden_vector(problem, task)
        out.append(StationaryPoint(kind, desc, (pos, neg, zero), expected, typ, P=P, omega=omega, **kw))

    if feat.rank == 0:
        return out
    add("origin", "P = 0, ω = 0", np.zeros(feat.rank), np.zeros(m), 0, risk=N)
    if feat.rank >= 2:
        p = np.zeros(feat.rank)
        p[0], p[1] = feat.lam[1] ** 2, -feat.lam[0] ** 2
        add("D1", "ω = 0 and tr(PΣ²) = 0, P ≠ 0", p / np.max(np.abs(p)), np.zeros(m), 0, risk=N)
    y = _orthogonal_to(task.s)
    d2 = "P = 0 on range(Σ) and rᵀω = 0, ω ≠ 0"
    if y is not None:
        add("D2", d2, np.zeros(feat.rank), y, 0, risk=N)
    elif task.hidden:  # a single segment level: ω ⊥ r only along a zero-sum (hidden) direction
        add("D2", d2, np.zeros(feat.rank), np.zeros(m), 0, hidden_bc=(task.hidden[0][0], 1.0), risk=N)
    for gamma in opt.fixed_points:
        mu = float(feat.secular()(gamma))
        L, tau = profile_risk(problem, feat, task, gamma, mu)
        p = 1.0 / (feat.lam + gamma)
        y = task.s / (task.rho + mu)
        t = np.sqrt(tau * np.linalg.norm(y) / np.linalg.norm(p))
        add("ray", f"P ∝ (Σ + γI)^-1, ω ∝ (M1 + μM2)^-1 r, γ = {gamma:.10g}", t * p, tau / t * y, 1,
            risk=L, gamma=float(gamma), mu=mu, global_min=bool(gamma == opt.gamma))
    return out


def _orthogonal_to(s: np.ndarray) -> np.ndarray | None:
    """A unit vector orthogonal to s (None if s has a single entry)."""
    if s.size < 2:
        return None
    k = int(np.argmax(np.abs(s)))
    j = 1 if k == 0 else 0
    y = np.zeros(s.size)
    y[k], y[j] = -s[j], s[k]
    return y / np.linalg.norm(y)


def _hidden_vector(problem: Problem, task: TaskSpectrum) -> np.ndarray:
    """A zero-sum vector in the first kept segment with ≥ 2 tokens, scaled to ωᵀM2ω = 1."""
    sizes = task.all_segment_sizes
    k = next(i for i in range(sizes.size) if task.kept[i] and sizes[i] > 1)
    start = int(np.sum(sizes[:k]))
    m2 = problem.trace_sigma * problem.segment_correlation[k, k] + problem.noise
    out = np.zeros(problem.n)
    out[start], out[start + 1] = 1.0, -1.0
    return out / np.sqrt(2.0 * m2)


def membership(problem: Problem, P: np.ndarray, omega: np.ndarray, optimum: Optimum) -> tuple[str, float]:
    """Which predicted stationary set a point is closest to, and a relative residual.

    Scale-aware (the sets are unions of orbits of (P, ω) ↦ (tP, ω/t)):

    * ray k: ``max(‖P̃ − t P̂_k‖/‖P̃‖, ‖ω − s ω̂_k‖/‖ω‖, |ts − τ_k|/τ_k)`` with least-squares t, s;
    * origin: ``√π`` with the invariant product ``π = ‖P̃‖‖ω‖/(τ*‖P̂*‖‖ω̂*‖)`` (1 on the optimal ray);
    * D1 / D2: ``max(π, |tr(PΣ²)|/(‖Σ²‖‖P̃‖))`` / ``max(π, |rᵀω|/(‖r‖‖ω‖))``.

    Args:
        P: shape (d, d); omega: shape (n,); optimum: the solve of ``problem``.

    Returns:
        (name, residual) of the best match ("ray:<γ>", "origin", "D1", "D2").
    """
    feat = feature_spectrum(problem)
    task = task_spectrum(problem, structured=optimum.method == "segments")
    U = feat.basis
    Pt = U.T @ P @ U
    nP, nw = float(np.linalg.norm(Pt)), float(np.linalg.norm(omega))
    best = ("none", np.inf)
    refs = []
    for gamma in optimum.fixed_points:
        mu = float(feat.secular()(gamma))
        _, tau = profile_risk(problem, feat, task, gamma, mu)
        ph = np.diag(1.0 / (feat.lam + gamma))
        wh = task.weights(mu)
        refs.append((tau, float(np.linalg.norm(ph)), float(np.linalg.norm(wh))))
        if nP == 0 or nw == 0:
            continue
        t = float(np.sum(Pt * ph) / np.sum(ph * ph))
        s = float(omega @ wh / (wh @ wh))
        res = max(float(np.linalg.norm(Pt - t * ph)) / nP, float(np.linalg.norm(omega - s * wh)) / nw,
                  abs(t * s - tau) / tau)
        if res < best[1]:
            best = (f"ray:{gamma:.10g}", res)
    k = optimum.fixed_points.index(optimum.gamma)
    tau, n_ph, n_wh = refs[k]
    prod = nP * nw / (tau * n_ph * n_wh)
    s2 = problem.sigma @ problem.sigma
    ang_a = abs(float(np.sum(P * s2))) / (float(np.linalg.norm(s2)) * nP) if nP > 0 else 0.0
    r = np.asarray(problem.r, dtype=np.float64)
    ang_u = abs(float(r @ omega)) / (float(np.linalg.norm(r)) * nw) if nw > 0 else 0.0
    for name, res in (("origin", np.sqrt(prod)), ("D1", max(prod, ang_a)), ("D2", max(prod, ang_u))):
        if res < best[1]:
            best = (name, float(res))
    return best
