"""Condition checker: the hypotheses of the uniqueness theorem and of scalar-gating reachability.

Definitions and proofs are in docs/conditions.md. For a measure supported in [m, M] (m > 0) the
*effective spectral gap* is ``δ = (√M − √m)/(√M + √m) = tanh(¼ log(M/m)) ∈ [0, 1)``, computed
from the non-zero extreme eigenvalues: λ of Σ on its range (δ_Σ) and the informative
generalised eigenvalues ρ of (M1, M2) (δ_R). Every elasticity obeys
``|ε(t)| ≤ 2δ · t(M − m)/((m + t)(M + t)) ≤ 2δ²``, hence

* **gap condition**  ``δ_Σ · δ_R < 1/2``  ⇒  sup |d log T/d log γ| ≤ 4 δ_Σ² δ_R² < 1 ⇒ exactly
  one fixed point, and (Theorem 3) a unique global minimum up to scaling;
* **localised gap condition**: the same with the pointwise bounds maximised over the invariant
  interval I = [T(0), T(∞)] and over φ_Σ(I) (weaker hypothesis, same conclusion).

Assumption 3 (scalar gating reaches the optimum) is checked on the answer itself: ω* ≥ 0 and
non-decreasing toward the query, with the data-side ordering (r ≥ 0, non-decreasing) reported
beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.safety import PSD_RTOL
from wpgd.numerics.core.secular import elasticity_bound, gap_delta
from wpgd.numerics.core.solver import Optimum, solve
from wpgd.numerics.core.spectra import RANK_RTOL, feature_spectrum, task_spectrum

__all__ = ["Condition", "ConditionReport", "check_conditions"]


@dataclass(frozen=True)
class Condition:
    """One line of the report.

    Attributes:
        name: short identifier.
        statement: what is checked.
        holds: verdict (None: not applicable).
        margin: how far from failing (positive when it holds), in the unit stated in ``detail``.
        value: the quantity itself.
        detail: one human-readable line.
    """

    name: str
    statement: str
    holds: bool | None
    margin: float | None
    value: float | None
    detail: str

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (a condition holds no arrays; ``arrays`` is accepted for the convention)."""
        return json_clean({"name": self.name, "statement": self.statement, "holds": self.holds,
                           "margin": self.margin, "value": self.value, "detail": self.detail})

    def line(self) -> str:
        """The row ``wpgd conditions`` prints: name, verdict, margin, detail."""
        verdict = {True: "yes", False: "NO", None: "-"}[None if self.holds is None else bool(self.holds)]
        margin = "" if self.margin is None else f"{self.margin:+.3e}"
        return f"{self.name:<24} {verdict:<4} {margin:>11}  {self.detail}"


@dataclass(frozen=True, repr=False)
class ConditionReport(Result):
    """All conditions for one problem (result conventions: :mod:`wpgd.numerics.core.results`).

    ``status``, ``converged`` and ``message`` are those of the float64 solve the conditions were
    evaluated on; ``verdict`` is the uniqueness verdict.

    Attributes:
        conditions: the lines, in display order.
        verdict: "condition", "certified", "numerical", "multiple fixed points",
            "not established" or "degenerate".
        optimum: the float64 solve used.
        extra: gaps, condition numbers and the certificate summary.
        problem: the problem's description (:meth:`Problem.describe`), or None.
    """

    conditions: tuple[Condition, ...]
    verdict: str
    optimum: Optimum
    extra: dict = field(default_factory=dict)
    problem: dict | None = None

    @property
    def status(self) -> str:
        return self.optimum.status

    @property
    def converged(self) -> bool:
        return self.optimum.converged

    @property
    def message(self) -> str:
        return f"uniqueness verdict: {self.verdict}; solve: {self.optimum.message}"

    def __repr__(self) -> str:
        holds = sum(1 for c in self.conditions if c.holds)
        return (f"ConditionReport(verdict={self.verdict!r}, {holds} of {len(self.conditions)} "
                f"conditions hold, "
                f"status={self.status!r})")

    def summary(self) -> str:
        """The rows ``wpgd conditions`` prints, one per condition."""
        return "\n".join(c.line() for c in self.conditions)

    def __getitem__(self, name: str) -> Condition:
        for c in self.conditions:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (``arrays`` adds the optimum's P and ω)."""
        out = {} if self.problem is None else {"problem": self.problem}
        out.update({"uniqueness_verdict": self.verdict, "conditions": [c.to_dict() for c in self.conditions],
                    **self.extra, "status": self.status, "converged": self.converged,
                    "message": self.message})
        if arrays:
            out.update(P=self.optimum.P, omega=self.optimum.omega)
        return json_clean(out)


def check_conditions(problem: Problem, *, optimum: Optimum | None = None, certify_digits: int | None = None,
                     certify_backend: str = "auto") -> ConditionReport:
    """Evaluate every condition (docs/conditions.md) for ``problem``.

    Args:
        problem: the setting.
        optimum: a float64 :func:`~wpgd.numerics.core.solver.solve` result (computed if None).
        certify_digits: if given, also run the interval certificate at that precision.
        certify_backend: "arb" (:func:`wpgd.numerics.exact.ball.certify_arb`), "mpmath"
            (:func:`wpgd.numerics.exact.certificate.certify`) or "auto" (Arb when python-flint is installed).

    Returns:
        A :class:`ConditionReport`.
    """
    from wpgd.numerics.core.solver import SCALE_EXPONENT

    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) > SCALE_EXPONENT:
        # Every condition is scale-free (ratios, gaps, contraction, signs): evaluate them in units
        # where λ_max(Σ) ≈ 1 and max|R̄| ≈ 1 (Problem.rescaled), where nothing overflows.
        rep = check_conditions(problem.rescaled(e_s, e_t), certify_digits=certify_digits,
                               certify_backend=certify_backend)
        return ConditionReport(rep.conditions, rep.verdict, rep.optimum,
                               {**rep.extra, "rescaled_by": [f"2^{e_s}", f"2^{e_t}"]}, problem.describe())
    opt = solve(problem) if optimum is None else optimum
    structured = opt.method == "segments"
    feat = feature_spectrum(problem)
    task = task_spectrum(problem, structured=structured)
    out = [_sigma_pd(problem), _task_psd(problem), _m2_pd(problem, task)]
    extra = {}
    if opt.degenerate is not None:
        out.append(Condition("uniqueness", "unique optimum up to scaling", None, None, None,
                             f"degenerate problem: {opt.degenerate}"))
        return ConditionReport(tuple(out), "degenerate", opt, {"degenerate": opt.degenerate},
                               problem.describe())

    lam, rho = feat.lam, task.rho[task.informative]
    ds, dr = gap_delta(lam[0], lam[-1]), gap_delta(rho.min(), rho.max())
    extra.update(kappa_sigma=float(lam[-1] / lam[0]), kappa_task=float(rho.max() / rho.min()),
                 delta_sigma=ds, delta_task=dr)
    out.append(Condition("gap_sigma", "effective spectral gap of Σ, δ_Σ = tanh(¼ log κ_Σ)", None, None, ds,
                         f"δ_Σ = {ds:.6g} (κ_Σ = λmax/λmin+ = {extra['kappa_sigma']:.6g} on the range, rank {feat.rank})"))
    out.append(Condition("gap_task", "effective spectral gap of (M1, M2), δ_R = tanh(¼ log κ_R)", None, None, dr,
                         f"δ_R = {dr:.6g} (κ_R = ρmax/ρmin over {rho.size} informative atoms = {extra['kappa_task']:.6g})"))
    prod = ds * dr
    gap_ok = prod < 0.5
    out.append(Condition("gap_condition", "δ_Σ·δ_R < 1/2 (⇒ contraction ≤ 4δ_Σ²δ_R² < 1)", gap_ok, 0.5 - prod, prod,
                         f"δ_Σ·δ_R = {prod:.6g}, bound on the contraction 4δ_Σ²δ_R² = {4 * prod * prod:.6g}"))
    loc = _localised_bound(feat, task, opt.invariant_interval)
    loc_ok = loc < 1
    out.append(Condition("localized_gap_condition", "pointwise gap bounds over the invariant interval < 1",
                         loc_ok, 1 - loc, loc, f"sup_I b_Σ · sup_φΣ(I) b_R = {loc:.6g}"))
    kappa = float(opt.contraction)
    out.append(Condition("contraction", "sup_I |d log(φ_R∘φ_Σ)/d log γ| < 1 (computed)", kappa < 1, 1 - kappa, kappa,
                         f"computed contraction constant {kappa:.6g} at γ = {opt.details.get('contraction_at', float('nan')):.6g}"
                         f" on I = [{opt.invariant_interval[0]:.6g}, {opt.invariant_interval[1]:.6g}]"))
    nfp = len(opt.fixed_points)
    out.append(Condition("fixed_points", "exactly one fixed point found (scan + Brent)", nfp == 1 and not opt.unresolved,
                         None, float(nfp), f"{nfp} fixed point(s): " + ", ".join(f"{g:.10g}" for g in opt.fixed_points)
                         + (f"; {len(opt.unresolved)} unresolved cell(s)" if opt.unresolved else "")))
    cert = None
    if certify_digits is not None:
        from wpgd.numerics.exact.ball._flint import resolve_backend

        backend = resolve_backend(certify_backend)
        if backend == "arb":
            from wpgd.numerics.exact.ball import certify_arb as certify
        else:
            from wpgd.numerics.exact.certificate import certify
        cert = certify(problem, certify_digits, structured=structured)
        enc = "" if cert.enclosure is None else f", γ* ∈ [{cert.enclosure[0]:.12g}, {cert.enclosure[1]:.12g}]"
        bound = cert.contraction_bound
        margin = 1 - bound if np.isfinite(bound) else None
        out.append(Condition("certificate", f"{'ball' if backend == 'arb' else 'interval'} proof of exactly one "
                             f"fixed point ({backend})", cert.certified, margin, bound if np.isfinite(bound) else None,
                             f"{'certified' if cert.certified else 'not certified: ' + cert.reason}; "
                             f"contraction bound {bound:.6g}{enc}"))
        extra["certificate"] = {"backend": backend, **cert.to_dict()}
    out.extend(_assumption3(problem, opt, task))
    if gap_ok or loc_ok:
        verdict = "condition"
    elif cert is not None and cert.certified:
        verdict = "certified"
    elif nfp == 1 and not opt.unresolved:
        verdict = "numerical"
    elif nfp > 1:
        verdict = "multiple fixed points"
    else:
        verdict = "not established"
    out.append(Condition("uniqueness", "unique global minimum up to scaling", verdict in ("condition", "certified", "numerical"),
                         None, None, f"verdict: {verdict}"))
    return ConditionReport(tuple(out), verdict, opt, extra, problem.describe())


def _sigma_pd(problem: Problem) -> Condition:
    lam = problem.sigma_eig[0]
    top = float(lam[-1])
    ratio = float(lam[0] / top) if top > 0 else 0.0
    holds = ratio > RANK_RTOL * problem.d
    return Condition("sigma_pd", "Σ ≻ 0", holds, ratio, float(lam[0]),
                     f"λmin/λmax = {ratio:.6g}" + ("" if holds else " (singular: solved on the range of Σ)"))


def _task_psd(problem: Problem) -> Condition:
    if problem.is_segmented:
        joint = problem.segment_joint_matrix
        what = "[[C, c], [cᵀ, r_q]]"
    else:
        joint = np.asarray(problem.task_matrix)
        what = "R̄"
    eig = np.linalg.eigvalsh(joint)
    scale = max(1.0, float(np.max(np.abs(eig))))
    margin = float(eig[0] / scale)
    return Condition("task_psd", "task correlation R̄ ⪰ 0", margin >= -PSD_RTOL, margin, float(eig[0]),
                     f"λmin({what})/max(1, |λ|max) = {margin:.6g}")


def _m2_pd(problem: Problem, task) -> Condition:
    holds = task.dropped == 0
    return Condition("m2_pd", "M2 = trΣ·D_R + σ²I ≻ 0", holds, None, float(task.dropped),
                     "all tokens kept" if holds else
                     f"{task.dropped} token(s) with zero task variance and σ² = 0 carry no label signal: dropped (ω = 0)")


def _localised_bound(feat, task, interval) -> float:
    lo, hi = interval
    lam = feat.lam
    rho = task.rho[task.informative]
    phi_s = feat.secular()

    def sup_on(a, b, m, M):
        t = float(np.clip(np.sqrt(m * M), a, b))
        return float(elasticity_bound(t, m, M))

    bs = sup_on(lo, hi, lam[0], lam[-1])
    mu_a, mu_b = sorted((float(phi_s(hi)), float(phi_s(lo))))
    br = sup_on(mu_a, mu_b, rho.min(), rho.max())
    return bs * br


def _assumption3(problem: Problem, opt: Optimum, task) -> list[Condition]:
    if problem.is_segmented:
        r = np.asarray(problem.query_correlation)
        sizes = np.asarray(problem.segment_sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        w = opt.omega[starts]  # ω* is constant within each segment
        unit = "segment"
    else:
        r = np.asarray(problem.r)
        w = opt.omega
        unit = "token"
    # (P, ω) and (−P, −ω) are the same predictor, and r ↦ −r maps ω* ↦ −ω*: both conditions are
    # stated up to one overall sign (the sign of the entry nearest the query; P absorbs it).
    r = _sign_normalised(r)
    w = _sign_normalised(w)
    rmax = float(np.max(np.abs(r)))
    r_min = float(np.min(r)) / rmax
    r_step = float(np.min(np.diff(r))) / rmax if r.size > 1 else 0.0
    w_min = float(np.min(w))
    w_step = float(np.min(np.diff(w))) if w.size > 1 else 0.0
    tol = 1e-10
    data_ok = r_min >= -tol and r_step >= -tol
    w_ok = w_min >= -tol and w_step >= -tol
    return [
        Condition("ordering", f"query correlations ±r ≥ 0 and non-decreasing toward the query (per {unit})",
                  data_ok, min(r_min, r_step), r_min,
                  f"min r/max|r| = {r_min:.6g}, min step/max|r| = {r_step:.6g}"),
        Condition("assumption3", "±ω* ≥ 0 and non-decreasing toward the query (scalar gating reaches the optimum; "
                  "P* absorbs the sign)",
                  w_ok, min(w_min, w_step), w_min,
                  f"min ω* = {w_min:.6g}, min step = {w_step:.6g} (max|ω*| = 1, per {unit})"),
    ]


def _sign_normalised(v: np.ndarray) -> np.ndarray:
    """``v`` times the sign of its last nonzero entry (unchanged if all zero)."""
    nz = np.flatnonzero(v)
    return -v if nz.size and v[nz[-1]] < 0 else v
