"""Checks that the solver's answer and its self-report hold up (docs/solver.md §5–6), split from
optimum_checks.

* ``optimum.highprec_vs_float64``: float64 vs the independent 50-digit mpmath solve on
  ill-conditioned problems (κ up to 1e12), with the interval certificate.
* ``optimum.solver_diagnostics``: ``converged``, the residuals (reported and recomputed by the
  dense path), ``unresolved``, and that the returned point is the lowest-risk fixed point (risks
  recomputed by the closed form at each ray), including the three-fixed-point case.

Each pass criterion is one ``_criterion_*`` function shared with the check's negative control.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.risk import risk
from wpgd.numerics.core.safety import relative_error
from wpgd.numerics.core.solver import RESIDUAL_TOL, solve, stationarity_residuals
from wpgd.numerics.core.stationary import classify
from wpgd.numerics.core.weighting import best_for_weights

from .optimum_cases import three_fixed_points_problem
from .optimum_checks import GROUP, _highest_risk_solver, _small_problems
from .random_problems import joint_task_matrix, random_orthogonal, spd_from_spectrum
from .registry import Evidence, any_passed, register

__all__: list[str] = []


def _ill_conditioned(rng, d, segs, kappa, kappa_task):
    lam = np.exp(np.linspace(0, np.log(kappa), d))
    sigma = spd_from_spectrum(lam / lam.max(), random_orthogonal(rng, d))
    k = len(segs)
    var = np.exp(np.linspace(0, -np.log(kappa_task), k + 1))
    joint = joint_task_matrix(rng.standard_normal((k + 1, k + 2)), var)
    return Problem.segmented(sigma, segs, joint[:k, k], correlation=joint[:k, :k], query_variance=joint[k, k],
                             noise=1e-12)


_TOL_HP_RISK = 1e-12
_TOL_HP = 1e-8


def _criterion_highprec(rows: list, worst: dict, certified: int, cases) -> Evidence:
    ok = (worst["risk"] <= _TOL_HP_RISK and worst["omega"] <= _TOL_HP and worst["P"] <= _TOL_HP
          and certified == len(cases))
    return Evidence(ok, f"κ(Σ) up to {max(c[0] for c in cases):.0e}: max rel err risk {worst['risk']:.1e} (tol "
                        f"{_TOL_HP_RISK:.0e}), ω* {worst['omega']:.1e}, P* {worst['P']:.1e} (tol {_TOL_HP:.0e}); "
                        f"certified {certified}/{len(cases)}", {"rows": rows, "worst": worst})


def _highprec_measure(quick: bool, solver=solve, certify_fn=None, cases=None):
    from wpgd.numerics.exact.certificate import certify
    from wpgd.numerics.exact.highprec import solve_highprec

    certify_fn = certify if certify_fn is None else certify_fn
    rng = np.random.default_rng(70)
    if cases is None:
        cases = [(1e6, 1e3), (1e12, 1e6)] if quick else [(1e3, 10), (1e6, 1e3), (1e9, 1e6), (1e12, 1e6), (1e12, 1e9)]
    rows, worst, certified = [], {"risk": 0.0, "omega": 0.0, "P": 0.0}, 0
    for i, (kappa, kt) in enumerate(cases):
        pr = _ill_conditioned(rng, 6, [4, 3, 5, 2], kappa, kt)
        if i == len(cases) - 1 and len(cases) > 1:
            pr = pr.as_dense()  # the dense path too (n = 14)
        opt = solver(pr)
        hp = solve_highprec(pr, 50)
        errs = {"risk": abs(opt.risk - hp.risk) / abs(hp.risk), "omega": relative_error(opt.omega, hp.omega),
                "P": relative_error(opt.P, hp.P)}
        for key, v in errs.items():
            worst[key] = max(worst[key], v)
        cert = certify_fn(pr, 30)
        certified += cert.certified
        rows.append({"kappa_sigma": kappa, "kappa_task_var": kt, "form": opt.method, **errs,
                     "certified": cert.certified})
    return rows, worst, certified, cases


def _control_highprec(quick: bool) -> Evidence:
    from dataclasses import replace

    def risk_off(pr):  # float64 risk off by 1e-11: 10× the tolerance
        opt = solve(pr)
        return replace(opt, risk=opt.risk * (1 + 1e-11))

    def omega_off(pr):  # ω* tilted by up to 1e-7
        opt = solve(pr)
        return replace(opt, omega=opt.omega * (1 + 1e-7 * np.linspace(0, 1, opt.omega.size)))

    one = [(1e6, 1e3)]
    return any_passed(_criterion_highprec(*_highprec_measure(True, risk_off, cases=one)),
                      _criterion_highprec(*_highprec_measure(True, omega_off, cases=one)))


@register(
    "optimum.highprec_vs_float64",
    claim="float64 solver agrees with the independent 50-digit mpmath solve on ill-conditioned problems; "
    "uniqueness certified",
    method="numeric (mpmath 50 digits, mpmath.iv certificate)",
    group=GROUP,
    control=_control_highprec,
)
def _highprec(quick: bool) -> Evidence:
    return _criterion_highprec(*_highprec_measure(quick))


def _criterion_diagnostics(rows: list) -> Evidence:
    """Every solve: converged, consistent with its residuals, nothing unresolved, reported and recomputed
    residuals below RESIDUAL_TOL, reported risk = recomputed risk, and the lowest-risk fixed point chosen."""
    bad = []
    for r in rows:
        why = []
        if r["converged"] != (r["reported_residual"] < RESIDUAL_TOL and not r["unresolved"]):
            why.append("converged inconsistent with its residuals and unresolved cells")
        if r["well_posed"]:  # a well-separated problem must actually converge
            if not r["converged"]:
                why.append("converged=False")
            if r["unresolved"]:
                why.append(f"{r['unresolved']} unresolved cells")
            if r["reported_residual"] >= RESIDUAL_TOL:
                why.append(f"reported residual {r['reported_residual']:.1e}")
            if r["recomputed_residual"] >= RESIDUAL_TOL:
                why.append(f"recomputed residual {r['recomputed_residual']:.1e}")
        if r["risk_error"] > 1e-10:
            why.append(f"reported risk off by {r['risk_error']:.1e}")
        if not r["lowest_chosen"]:
            why.append(f"chose γ = {r['gamma']:.4g}, not the lowest-risk fixed point {r['best_gamma']:.4g}")
        if why:
            bad.append(f"{r['name']}: " + ", ".join(why))
    worst_res = max(max(r["reported_residual"], r["recomputed_residual"]) for r in rows if r["well_posed"])
    multi = sum(r["fixed_points"] > 1 for r in rows)
    tangent = [r for r in rows if not r["well_posed"]]
    note = "".join(f"; {r['name']}: converged={r['converged']}, {r['unresolved']} unresolved cells, consistent"
                   for r in tangent)
    text = (f"{len(rows)} problems ({multi} with several fixed points): converged, nothing unresolved, residuals "
            f"(reported and recomputed dense) ≤ {worst_res:.1e} (tol {RESIDUAL_TOL:.0e}), lowest-risk fixed point "
            f"chosen" + note if not bad else "; ".join(bad))
    return Evidence(not bad, text, {"rows": rows})


def _diagnostics_measure(quick: bool, solver=solve, count: int | None = None) -> list:
    rng = np.random.default_rng(80)
    named = [(f"random {i}", pr) for i, pr in enumerate(_small_problems(rng, count or (4 if quick else 12)))]
    named.append(("three fixed points (σ² = 1)", three_fixed_points_problem(1.0)))
    # two fixed points ~1e-3 apart in log γ (just before the saddle and a minimum merge): whatever
    # the scan concludes, `converged` must agree with its residuals and unresolved cells
    named.append(("near-tangent (σ² = 1.0843133)", three_fixed_points_problem(1.0843133249353096 - 1e-7)))
    rows = []
    for name, pr in named:
        opt = solver(pr)
        rays = [sp for sp in classify(pr, solve(pr)) if sp.kind == "ray"]
        recomputed = [best_for_weights(pr, sp.omega).risk for sp in rays]
        k = int(np.argmin(recomputed))
        dense_res = stationarity_residuals(pr, opt.P, opt.omega)  # token path, no segment levels
        rows.append({
            "name": name, "well_posed": not name.startswith("near-tangent"),
            "converged": bool(opt.converged), "unresolved": len(opt.unresolved),
            "reported_residual": max(opt.residuals.values()), "recomputed_residual": max(dense_res.values()),
            "risk_error": abs(risk(pr, opt.P, opt.omega) - opt.risk) / abs(opt.risk),
            "gamma": opt.gamma, "best_gamma": rays[k].gamma, "fixed_points": len(rays),
            "lowest_chosen": bool(abs(opt.gamma - rays[k].gamma) <= 1e-12 * rays[k].gamma
                                  and opt.risk <= min(recomputed) * (1 + 1e-10)),
        })
    return rows


def _control_diagnostics(quick: bool) -> Evidence:
    from dataclasses import replace

    def not_converged(pr):
        return replace(solve(pr), converged=False)

    def residual_high(pr):  # reports a residual 10× the tolerance but converged=True
        opt = solve(pr)
        return replace(opt, residuals={**opt.residuals, "grad_P": 1e-7})

    def unresolved(pr):
        opt = solve(pr)
        return replace(opt, unresolved=((opt.gamma, opt.gamma * 1.01),))

    def p_off(pr):  # P* 1e-7 too large (its reported residuals untouched): recomputed ≈ 5e-8, 5× the tolerance
        opt = solve(pr)
        return replace(opt, P=opt.P * (1 + 1e-7))

    return any_passed(*(_criterion_diagnostics(_diagnostics_measure(True, f, count=1))
                        for f in (_highest_risk_solver, not_converged, residual_high, unresolved, p_off)))


@register(
    "optimum.solver_diagnostics",
    claim="the solver's converged flag, residuals and unresolved cells are true, and it returns the lowest-risk "
    "fixed point (risks recomputed independently), also with three fixed points",
    method="numeric (closed-form risk at every ray, dense residuals)",
    group=GROUP,
    control=_control_diagnostics,
)
def _diagnostics(quick: bool) -> Evidence:
    return _criterion_diagnostics(_diagnostics_measure(quick))
