"""The unconstrained WPGD optimum (docs/theory.md §5; derivation and algorithm in docs/solver.md).

Stationarity of L(P, ω) gives ``P ∝ (Σ + γI)^{-1}``, ``ω ∝ (M1 + μM2)^{-1} r`` with
``μ = φ_Σ(γ)`` and ``γ = φ_R(μ)``: the non-degenerate stationary rays are the fixed points of
the increasing map ``T = φ_R ∘ φ_Σ``. :func:`solve`

1. diagonalises Σ (O(d³)) and the pencil (M1, M2) (dense O(n³), or O(K³) for segments:
   :mod:`wpgd.numerics.core.spectra`), after which T costs O(d + m) per point;
2. finds *every* fixed point on the invariant interval [T(0), T(∞)]
   (:mod:`wpgd.numerics.core.fixedpoint`: log-scale sign scan, monotone exclusion, Brent);
3. evaluates the profile risk of each, ``L(γ) = N − (a u)² / (b B + c Cq)`` with
   ``N = r_q tr Σ + σ²``, (a, b, c) = traces of P̂ = (Σ+γI)^{-1} and
   (u, B, Cq) = (rᵀω̂, ω̂ᵀM1ω̂, ω̂ᵀM2ω̂), and returns the best, with the optimal scale;
4. reports the residuals of both stationarity conditions at the returned (P*, ω*).

Normalisation of the answer (the pair is defined up to (tP, ω/t)): ``max_i |ω*_i| = 1`` and the
optimal scale sits in ``P* = scale · P̂``. For segment problems ω* is constant within segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from wpgd.numerics.core.errors import SolverError
from wpgd.numerics.core.fixedpoint import find_fixed_points
from wpgd.numerics.core.limits import require_memory
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.spectra import FeatureSpectrum, TaskSpectrum, feature_spectrum, task_spectrum

__all__ = ["Optimum", "solve", "composite_map", "contraction_constant", "RESIDUAL_TOL"]

RESIDUAL_TOL = 1e-8
"""A solve is ``converged`` when every relative stationarity residual is below this."""


@dataclass(frozen=True, eq=False, repr=False)
class Optimum(Result):
    """The WPGD optimum of a problem.

    Attributes:
        P: optimal preconditioner P* = scale·(Σ + γ*I)^{-1} (zero on null(Σ)), shape (d, d).
        omega: optimal weights ω*, normalised to max|ω*| = 1, shape (n,).
        gamma: γ* (None if degenerate).
        mu: μ* = φ_Σ(γ*) (None if degenerate).
        scale: the factor in P* (0 if degenerate).
        risk: L(P*, ω*), raw units of y².
        normalized_risk: risk / (r_q tr Σ + σ²).
        fixed_points: every fixed point γ of φ_R∘φ_Σ found, ascending.
        fixed_point_risks: profile risk of each fixed point.
        fixed_point_slopes: d log T / d log γ at each fixed point (< 1: attracting).
        residuals: relative residuals: ``grad_P``, ``grad_omega`` (stationarity of L),
            ``fixed_point`` (|log T(γ*) − log γ*|).
        iterations: evaluations of T plus Brent iterations.
        converged: all residuals below :data:`RESIDUAL_TOL` and no unresolved cell (True for a
            degenerate problem, whose zero predictor is exact).
        degenerate: None, or why the optimum is the zero predictor (r = 0, Σ = 0).
        contraction: sup over the invariant interval of |d log T/d log γ| (grid + refinement).
        invariant_interval: (T(0), T(∞)).
        unresolved: near-tangency cells of the scan, (γ_lo, γ_hi) pairs.
        method: "dense" or "segments".
        precision: "float64" or "mpmath:<digits>".
        details: free-form extra diagnostics (JSON-serialisable).
    """

    P: np.ndarray
    omega: np.ndarray
    gamma: float | None
    mu: float | None
    scale: float
    risk: float
    normalized_risk: float
    fixed_points: tuple[float, ...]
    fixed_point_risks: tuple[float, ...]
    fixed_point_slopes: tuple[float, ...]
    residuals: dict
    iterations: int
    converged: bool
    degenerate: str | None = None
    contraction: float | None = None
    invariant_interval: tuple[float, float] | None = None
    unresolved: tuple[tuple[float, float], ...] = ()
    method: str = "dense"
    precision: str = "float64"
    details: dict = field(default_factory=dict)

    @property
    def unique(self) -> bool:
        """Exactly one fixed point and nothing unresolved."""
        return len(self.fixed_points) == 1 and not self.unresolved

    @property
    def status(self) -> str:
        """"degenerate", "converged" or "not_converged"."""
        if self.degenerate is not None:
            return "degenerate"
        return "converged" if self.converged else "not_converged"

    @property
    def message(self) -> str:
        """Why the status is what it is, in one line."""
        if self.degenerate is not None:
            return self.degenerate
        worst = max(self.residuals.items(), key=lambda kv: kv[1], default=("none", 0.0))
        parts = [f"{len(self.fixed_points)} fixed point(s)",
                 f"largest relative residual {worst[1]:.2e} ({worst[0]}; tolerance {RESIDUAL_TOL:.0e})"]
        if self.unresolved:
            parts.append(f"{len(self.unresolved)} unresolved near-tangency cell(s)")
        return ", ".join(parts)

    def __repr__(self) -> str:
        gamma = "None" if self.gamma is None else f"{self.gamma:.6g}"
        return (f"Optimum(d={self.P.shape[0]}, n={self.omega.size}, risk={self.risk:.6g}, "
                f"normalized_risk={self.normalized_risk:.6g}, gamma={gamma}, "
                f"fixed_points={len(self.fixed_points)}, status={self.status!r})")

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable summary (P and ω only if ``arrays``)."""
        out = {
            "risk": self.risk,
            "normalized_risk": self.normalized_risk,
            "gamma": self.gamma,
            "mu": self.mu,
            "scale": self.scale,
            "fixed_points": list(self.fixed_points),
            "fixed_point_risks": list(self.fixed_point_risks),
            "fixed_point_slopes": list(self.fixed_point_slopes),
            "unique": self.unique,
            "contraction": self.contraction,
            "invariant_interval": None if self.invariant_interval is None else list(self.invariant_interval),
            "unresolved": [list(c) for c in self.unresolved],
            "residuals": dict(self.residuals),
            "iterations": self.iterations,
            "status": self.status,
            "converged": self.converged,
            "message": self.message,
            "degenerate": self.degenerate,
            "method": self.method,
            "precision": self.precision,
            "details": dict(self.details),
        }
        if arrays:
            out["P"] = self.P
            out["omega"] = self.omega
        return json_clean(out)

    def summary(self) -> str:
        """The lines ``wpgd solve`` prints for the optimum (without the problem line)."""
        if self.degenerate:
            return "\n".join([f"degenerate       {self.degenerate}",
                              f"risk             {self.risk:.10g}   (the zero predictor)",
                              f"normalized risk  {self.normalized_risk:.10g}"])
        rows = zip(self.fixed_points, self.fixed_point_risks, self.fixed_point_slopes)
        fps = ", ".join(f"γ = {g:.10g} (risk {r:.10g}, slope {s:.4g})" for g, r, s in rows)
        lo, hi = self.invariant_interval
        lines = [
            f"gamma*           {self.gamma:.12g}   (P* ∝ (Σ + γ*I)^-1)",
            f"mu*              {self.mu:.12g}   (ω* ∝ (M1 + μ*M2)^-1 r, max|ω*| = 1)",
            f"optimal scale    {self.scale:.12g}",
            f"risk             {self.risk:.12g}",
            f"normalized risk  {self.normalized_risk:.12g}   (1 = predicting zero)",
            f"fixed points     {len(self.fixed_points)}: {fps}",
            f"contraction      {self.contraction:.6g}   (sup |d log T/d log γ| on I = [{lo:.6g}, {hi:.6g}])",
            "residuals        " + ", ".join(f"{k} {v:.2e}" for k, v in self.residuals.items()),
        ]
        return "\n".join(lines)


def composite_map(feat: FeatureSpectrum, task: TaskSpectrum):
    """Vectorised ``x ↦ log T(eˣ)`` and ``x ↦ (log T(eˣ), E(eˣ))``, E = d log T / d log γ ≥ 0."""
    phi_s, phi_r = feat.secular(), task.secular()

    def log_t(x):
        return np.log(phi_r(phi_s(np.exp(x))))

    def log_t_slope(x):
        mu, eps_s = phi_s.with_elasticity(np.exp(x))
        val, eps_r = phi_r.with_elasticity(mu)
        return np.log(val), eps_r * eps_s

    return log_t, log_t_slope


def invariant_interval(feat: FeatureSpectrum, task: TaskSpectrum) -> tuple[float, float]:
    """(T(0), T(∞)) = (φ_R(φ_Σ(0)), φ_R(φ_Σ(∞)))."""
    phi_s, phi_r = feat.secular(), task.secular()
    a = float(phi_r(phi_s.at_zero))
    b = float(phi_r(phi_s.at_infinity))
    return min(a, b), max(a, b)


def contraction_constant(feat: FeatureSpectrum, task: TaskSpectrum, interval=None, grid: int = 257) -> tuple[float, float]:
    """sup over the invariant interval of E(γ) = |d log(φ_R∘φ_Σ)/d log γ|, and where it is attained.

    A log-uniform grid followed by a bounded Brent refinement around the best grid point
    (a numerical value; :func:`wpgd.numerics.exact.highprec.certify` bounds it rigorously).

    Returns:
        (E_max, γ at the maximum).
    """
    lo, hi = invariant_interval(feat, task) if interval is None else interval
    _, slope = composite_map(feat, task)
    xa, xb = np.log(lo), np.log(hi)
    if xb - xa <= 1e-12 * max(1.0, abs(xa)):
        return float(slope(np.array([xa]))[1][0]), float(lo)
    xs = np.linspace(xa, xb, grid)
    es = slope(xs)[1]
    i = int(np.argmax(es))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]
    res = minimize_scalar(lambda x: -float(slope(np.array([x]))[1][0]), bounds=(a, b), method="bounded",
                          options={"xatol": 1e-10 * max(1.0, abs(a))})
    if -res.fun > es[i]:
        return float(-res.fun), float(np.exp(res.x))
    return float(es[i]), float(np.exp(xs[i]))


def solve(problem: Problem, *, structured: bool | None = None, grid: int = 64) -> Optimum:
    """The unconstrained optimum of the WPGD risk, with every fixed point and its diagnostics.

    Args:
        problem: the setting (dense or segments).
        structured: use the O(K³ + d³ + n) segment path (default for segment problems);
            False forces the dense O(n³) reference path (n ≤ DENSE_LIMIT).
        grid: initial number of cells of the fixed-point scan.

    The interval certificate of uniqueness is separate (:func:`wpgd.numerics.exact.certificate.certify`,
    :func:`wpgd.numerics.exact.ball.certify_arb`); :func:`wpgd.numerics.core.api.solve_problem` runs the solve and then
    the certificate.

    Returns:
        An :class:`Optimum`. Degenerate problems (r = 0 or Σ = 0) return the zero predictor with
        ``degenerate`` set and ``gamma = mu = None``; nothing is NaN.

    Raises:
        SolverError: no fixed point found (cannot happen in exact arithmetic: T maps its
            invariant interval into itself).

    >>> import numpy as np
    >>> opt = solve(Problem.segmented(np.eye(2), [4], [1.0]))   # Σ = I: μ = 1, γ = φ_R(1)
    >>> round(opt.mu, 12), len(opt.fixed_points)
    (1.0, 1)
    """
    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) > SCALE_EXPONENT:
        return _solve_rescaled(problem, e_s, e_t, structured=structured, grid=grid)
    if problem.is_segmented and structured is not False:
        require_memory(f"ω* for a prompt of n = {problem.n:.3g} tokens", 3 * 8.0 * problem.n)
    if structured is None:
        structured = problem.is_segmented
    method = "segments" if structured else "dense"
    feat = feature_spectrum(problem)
    task = task_spectrum(problem, structured=structured)
    why = degeneracy(problem, feat, task)
    if why is not None:
        return _degenerate_optimum(problem, why, method)

    lo, hi = invariant_interval(feat, task)
    log_t, log_t_slope = composite_map(feat, task)
    scan = find_fixed_points(log_t, lo, hi, grid=grid)
    if not scan.roots:
        raise SolverError(f"no fixed point found on the invariant interval [{lo:.6g}, {hi:.6g}]")
    phi_s = feat.secular()
    roots = np.array(scan.roots)
    mus = phi_s(roots)
    risks = np.array([profile_risk(problem, feat, task, g, m)[0] for g, m in zip(roots, mus)])
    slopes = log_t_slope(np.log(roots))[1]
    best = int(np.argmin(risks))
    gamma, mu = float(roots[best]), float(mus[best])
    L, tau = profile_risk(problem, feat, task, gamma, mu)
    levels = task.levels(mu)
    wmax = float(np.max(np.abs(levels)))
    scale = tau * wmax
    P = scale * feat.preconditioner(gamma)
    omega = task.expand(levels / wmax)
    fp_res = abs(float(log_t(np.array([np.log(gamma)]))[0]) - np.log(gamma))
    # In float64 a residual can overflow (e.g. σ² ≈ 1e308 next to O(1) signal): it is then reported
    # as inf (JSON null) and the solve as not converged, never as NaN or an exception.
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        res = stationarity_residuals(problem, P, omega, task=task, levels=levels / wmax)
    res = {k: (v if np.isfinite(v) else float("inf")) for k, v in res.items()}
    res["fixed_point"] = float(fp_res)
    kappa, kappa_at = contraction_constant(feat, task, (lo, hi))
    converged = all(v < RESIDUAL_TOL for v in res.values()) and not scan.unresolved
    details = {
        "contraction_at": kappa_at,
        "rank_sigma": feat.rank,
        "informative_atoms": int(np.count_nonzero(task.informative)),
        "dropped_tokens": task.dropped,
    }
    return Optimum(
        P=P,
        omega=omega,
        gamma=gamma,
        mu=mu,
        scale=scale,
        risk=L,
        normalized_risk=L / problem.null_risk,
        fixed_points=tuple(float(g) for g in roots),
        fixed_point_risks=tuple(float(r) for r in risks),
        fixed_point_slopes=tuple(float(s) for s in slopes),
        residuals=res,
        iterations=scan.evaluations + scan.brent_iterations,
        converged=converged,
        contraction=kappa,
        invariant_interval=(lo, hi),
        unresolved=scan.unresolved,
        method=method,
        details=details,
    )


SCALE_EXPONENT = 100
"""A problem whose feature scale λ_max(Σ) or task/noise scale (see
:meth:`~wpgd.numerics.core.problem.Problem.scale_exponents`) lies outside 2^±100 ≈ 10^±30 is solved on the
rescaled problem (see :func:`_solve_rescaled`)."""


def _solve_rescaled(problem: Problem, e_s: int, e_t: int, **kwargs) -> Optimum:
    """Solve in units where λ_max(Σ) ≈ 1 and the task/noise scale ≈ 1, then map the optimum back.

    With ``x = √s x̂``, ``β = √t β̂`` and ``ξ = √(st) ξ̂`` (s = 2^e_s, t = 2^e_t, exact powers of
    two) the labels are ``√(st)·ŷ``, so ``L(P, ω; problem) = st·L̂(sP, ω; rescaled)``: risks scale
    by st, P* by 1/s, γ (an eigenvalue shift of Σ) by s, μ = φ_Σ(γ) by 1/s; ω*, the normalised
    risk, slopes and the contraction constant are unchanged. Extreme scales would otherwise
    overflow or underflow (λ² and λ³ in the traces of P̂, σ² + tr Σ·R_ii in M2).

    Raises:
        SolverError: when P* (or the risk) is not representable in float64 in the original units.
    """
    from dataclasses import replace

    opt = solve(problem.rescaled(e_s, e_t), **kwargs)
    s = float(np.ldexp(1.0, e_s)) if abs(e_s) < 1000 else None
    details = dict(opt.details, rescaled_by=[f"2^{e_s}", f"2^{e_t}"])
    P = _ldexp_checked(opt.P, -e_s, "P*")
    if opt.gamma is None:
        return replace(opt, risk=problem.null_risk, P=P, details=details)
    lo, hi = opt.invariant_interval
    risk_shift = e_s + e_t
    return replace(
        opt,
        P=P,
        gamma=_ldexp_checked(opt.gamma, e_s, "γ*"),
        mu=_ldexp_checked(opt.mu, -e_s, "μ*"),
        scale=_ldexp_checked(opt.scale, -e_s, "the optimal scale"),
        risk=_ldexp_checked(opt.risk, risk_shift, "the risk"),
        normalized_risk=opt.normalized_risk,
        fixed_points=tuple(_ldexp_checked(g, e_s, "a fixed point") for g in opt.fixed_points),
        fixed_point_risks=tuple(_ldexp_checked(r, risk_shift, "a fixed point's risk") for r in opt.fixed_point_risks),
        invariant_interval=(_ldexp_checked(lo, e_s, "T(0)"), _ldexp_checked(hi, e_s, "T(∞)")),
        details=dict(details, feature_scale=s),
    )


def _ldexp_checked(x, e: int, what: str):
    """``x·2^e``, refusing a result that overflows float64 or underflows a nonzero value to 0."""
    arr = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(arr, e)
    if not np.all(np.isfinite(out)):
        raise SolverError(f"{what} overflows float64 in the problem's units (computed in rescaled units 2^{e:+d})")
    if np.any(arr != 0) and not np.any(out != 0):
        raise SolverError(f"{what} underflows float64 in the problem's units (computed in rescaled units 2^{e:+d})")
    return float(out) if out.ndim == 0 else out


def degeneracy(problem: Problem, feat: FeatureSpectrum, task: TaskSpectrum) -> str | None:
    """Why the optimum is the zero predictor, or None."""
    if feat.rank == 0:
        return "Σ = 0: the features carry no signal, every predictor has risk σ²"
    if task.is_degenerate:
        return (
            "r = 0: no demonstration's task is correlated with the query task "
            "(rᵀv = 0 for every informative direction), so the best predictor is 0"
        )
    return None


def profile_risk(problem: Problem, feat: FeatureSpectrum, task: TaskSpectrum, gamma: float, mu: float):
    """Risk of (t P̂(γ), ω̂(μ)) at the best scale t, and that scale.

    Returns:
        (L, t) with ``L = N − (a u)²/(b B + c Cq)`` and ``t = a u/(b B + c Cq)``.
    """
    # Traces of k·P̂ with k = max(1, γ/λ_max): the gain is invariant under (a, b, c) → (ka, k²b, k²c)
    # and t scales by k, so a noise-dominated problem (γ ≫ λ, b and c ~ 1/γ²) cannot underflow.
    lam = feat.lam
    k = max(1.0, gamma / float(np.max(lam)))
    q = lam / ((lam + gamma) / k)
    a, b, c = float(np.sum(lam * q)), float(np.sum(lam * q * q)), float(np.sum(q * q))
    # Sums for r/‖r‖-scale: t is scale-free and the gain is quadratic in r, so a tiny but
    # nonzero r gives a tiny gain instead of 0/0.
    u, B, Cq = task.sums(mu, normalized=True)
    den = b * B + c * Cq
    if not den > 0:
        raise SolverError(f"the profile risk at γ = {gamma:.3g} is 0/0 in float64 (the problem is too extreme in scale)")
    gain = (a * u) ** 2 / den * task.s_scale**2
    return problem.null_risk - gain, k * (a * u / den)


def _degenerate_optimum(problem: Problem, why: str, method: str) -> Optimum:
    return Optimum(
        P=np.zeros((problem.d, problem.d)),
        omega=np.zeros(problem.n),
        gamma=None,
        mu=None,
        scale=0.0,
        risk=problem.null_risk,
        normalized_risk=1.0,
        fixed_points=(),
        fixed_point_risks=(),
        fixed_point_slopes=(),
        residuals={},
        iterations=0,
        converged=True,
        degenerate=why,
        method=method,
    )


def stationarity_residuals(problem: Problem, P, omega, *, task: TaskSpectrum | None = None, levels=None) -> dict:
    """Relative residuals of ∂L/∂P = 0 and ∂L/∂ω = 0.

    ``∂L/∂P = 2Σ[−u I + P(BΣ + Cq I)]Σ`` and ``∂L/∂ω = −2a r + 2b M1ω + 2c M2ω``; each residual
    is ‖gradient‖ divided by the sum of the norms of its terms (0 = exact, 1 = no cancellation).
    For segment problems (``task`` structured, ``levels`` = ω per kept segment) the token
    gradient is constant within a segment and is computed on levels with multiplicities, O(K²).

    Args:
        P: shape (d, d); omega: shape (n,).

    Returns:
        {"grad_P": float, "grad_omega": float}.
    """
    sig = problem.sigma
    s2 = sig @ sig
    a = float(np.sum(P * s2))
    sp = sig @ P
    b = float(np.sum(P * (sp @ s2)))
    c = float(np.sum(P * (sp @ sig)))
    if task is not None and task.segment_sizes is not None and levels is not None:
        g, terms = _segment_grad_omega(problem, task, levels, a, b, c)
        u, B, Cq = g["u"], g["B"], g["Cq"]
    else:
        r = problem.r
        rbar = problem.dense_task_matrix()
        m1w = rbar[:-1, :-1] @ omega + problem.diag_r * omega  # M1ω = Rω + D_Rω, no n×n copy
        m2w = problem.m2_diag * omega
        u, B, Cq = float(r @ omega), float(omega @ m1w), float(omega @ m2w)
        grad = -2 * a * r + 2 * b * m1w + 2 * c * m2w
        terms = (np.linalg.norm(2 * a * r) + np.linalg.norm(2 * b * m1w) + np.linalg.norm(2 * c * m2w))
        g = {"norm": float(np.linalg.norm(grad))}
    inner = P @ (B * sig + Cq * np.eye(problem.d))
    gp = 2 * sig @ (inner - u * np.eye(problem.d)) @ sig
    tp = np.linalg.norm(2 * u * s2) + np.linalg.norm(2 * sig @ inner @ sig)
    return {
        "grad_P": float(np.linalg.norm(gp) / tp) if tp > 0 else 0.0,
        "grad_omega": float(g["norm"] / terms) if terms > 0 else 0.0,
    }


def _segment_grad_omega(problem, task, x, a, b, c):
    kept = task.kept
    n_k = task.segment_sizes.astype(np.float64)
    C = problem.segment_correlation[np.ix_(kept, kept)]
    cq = problem.query_correlation[kept]
    var = np.diag(C)
    m2 = problem.trace_sigma * var + problem.noise
    sums = n_k * x
    m1x = C @ sums + var * x
    m2x = m2 * x
    grad = -2 * a * cq + 2 * b * m1x + 2 * c * m2x
    wnorm = lambda v: float(np.sqrt(np.sum(n_k * v * v)))  # noqa: E731  token-space norm
    terms = wnorm(2 * a * cq) + wnorm(2 * b * m1x) + wnorm(2 * c * m2x)
    return {
        "norm": wnorm(grad),
        "u": float(np.sum(sums * cq)),
        "B": float(sums @ C @ sums + np.sum(n_k * var * x * x)),
        "Cq": float(np.sum(n_k * m2 * x * x)),
    }, terms
