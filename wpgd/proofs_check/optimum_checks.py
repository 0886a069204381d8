"""Checks of the optimum (docs/theory.md §5; docs/solver.md, docs/conditions.md).

* ``optimum.theorem2_stationary_set``: every point where multi-start BFGS on L, or
  Levenberg–Marquardt on ‖∇L‖², stops with a small gradient lies in the predicted stationary
  set (degenerate families or a fixed-point ray); the Hessian inertia reported by
  ``wpgd.numerics.core.stationary.classify`` equals the dense Hessian's at every representative.
* ``optimum.theorem3_global_minimum``: the solver's risk equals the best of many BFGS runs on
  the closed-form risk (1e-9 relative); the runs reaching it agree with (P*, ω*) up to scaling.
* ``optimum.structured_vs_dense``: the O(K³ + d³ + n) segment path equals the dense path.
* ``optimum.gap_condition``: on random measures the contraction constant never exceeds the
  gap bound 4δ_Σ²δ_R²; whenever δ_Σδ_R < 1/2 there is exactly one fixed point.
* ``optimum.uniqueness_stress``: adversarial search for the largest contraction constant, and
  the reproducible counterexample of :mod:`wpgd.proofs_check.optimum_cases` (three fixed points;
  two global minimisers at the tie noise).
* ``optimum.highprec_vs_float64``, ``optimum.solver_diagnostics``: in
  :mod:`wpgd.proofs_check.solver_checks`.

Each pass criterion is one ``_criterion_*`` function shared with the check's negative control,
which feeds it a wrong solver output (the highest-risk fixed point, a perturbed root, a false
``converged``) or a wrong bound, and where there is a tolerance one about 10× outside it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from wpgd.numerics.core.descent import balanced_gradient, multistart_bfgs, multistart_stationary, risk_hessian
from wpgd.numerics.core.fixedpoint import find_fixed_points
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.risk import risk
from wpgd.numerics.core.safety import relative_error
from wpgd.numerics.core.secular import SecularFunction, gap_delta
from wpgd.numerics.core.solver import solve
from wpgd.numerics.core.stationary import classify, membership
from wpgd.numerics.core.weighting import best_for_weights

from .optimum_cases import three_fixed_points_problem, tie_noise
from .random_problems import mixed_problems, random_problem
from .registry import Evidence, any_passed, register

__all__: list[str] = []

GROUP = "optimum"


def _small_problems(rng, count):
    return mixed_problems(rng, count, dims=(2, 4), tokens=(2, 6), num_segments=(2, 4), segment_size=(1, 4),
                          condition=(2, 30))


_TOL_MEMBER = 1e-5


def _criterion_theorem2(m: dict) -> Evidence:
    stopped, members, total, bad = m["stopped"], m["members"], m["total"], m["inertia_bad"]
    ok = stopped == members and stopped >= total // 2 and not bad
    ev = (f"{stopped}/{total} runs stopped with a small gradient (≤ 1e-8 of the scale, at the balanced rescaling), "
          f"{members} in the predicted set (residual < {_TOL_MEMBER:.0e}; by kind {m['kinds']}), worst membership "
          f"residual {m['worst']:.1e}; inertia reduced == dense at every representative of {m['problems']} problems"
          + ("" if not bad else f" EXCEPT {bad}"))
    return Evidence(ok, ev, {"stopped": stopped, "members": members, "kinds": m["kinds"], "worst": m["worst"],
                             "inertia_mismatch": [list(map(str, x)) for x in bad]})


def _theorem2_measure(quick: bool, solver=solve, count: int | None = None) -> dict:
    rng = np.random.default_rng(20)
    problems = _small_problems(rng, 3 if quick else 8)[:count]
    starts = 4 if quick else 8
    stopped = members = 0
    worst, kinds, inertia_bad = 0.0, {}, []
    for k, pr in enumerate(problems):
        opt = solver(pr)
        runs = multistart_bfgs(pr, starts, seed=k) + multistart_stationary(pr, starts, seed=100 + k)
        g_ref = balanced_gradient(pr, 2 * opt.P, opt.omega)
        for run in runs:
            if balanced_gradient(pr, run.P, run.omega) > 1e-8 * g_ref:
                continue
            stopped += 1
            name, res = membership(pr, run.P, run.omega, opt)
            kind = name.split(":")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
            worst = max(worst, res)
            members += res < _TOL_MEMBER
        for sp in classify(pr, opt):
            h = np.linalg.eigvalsh(risk_hessian(pr, np.concatenate([sp.P.ravel(), sp.omega])))
            tol = 1e-9 * np.max(np.abs(h))
            dense = (int(np.sum(h > tol)), int(np.sum(h < -tol)), int(np.sum(np.abs(h) <= tol)))
            if dense != sp.inertia or (sp.kind != "ray") != (sp.type == "saddle"):
                inertia_bad.append((k, sp.kind, sp.inertia, dense))
    return {"stopped": stopped, "members": members, "total": len(problems) * 2 * starts, "kinds": kinds,
            "worst": worst, "inertia_bad": inertia_bad, "problems": len(problems)}


def _shifted_root_solver(factor: float):
    """A solver whose fixed points (and γ*) are off by ``factor`` (a root found imprecisely)."""
    from dataclasses import replace

    def wrong(pr):
        opt = solve(pr)
        return replace(opt, gamma=opt.gamma * factor, fixed_points=tuple(g * factor for g in opt.fixed_points))

    return wrong


def _control_theorem2(quick: bool) -> Evidence:
    # roots off by 1e-3: the membership residual of the true stationary points is then ≈ 1e-4, 10× the tolerance
    return _criterion_theorem2(_theorem2_measure(True, _shifted_root_solver(1 + 1e-3), count=2))


@register(
    "optimum.theorem2_stationary_set",
    claim="stationary points of L = degenerate saddle families ∪ one ray per fixed point of φ_R∘φ_Σ (Theorem 2)",
    method="numeric (multi-start BFGS + LM on ‖∇L‖², dense Hessian inertia)",
    group=GROUP,
    control=_control_theorem2,
)
def _theorem2(quick: bool) -> Evidence:
    return _criterion_theorem2(_theorem2_measure(quick))


_TOL_GAP = 1e-9
_TOL_DIR = 1e-6


def _criterion_theorem3(m: dict) -> Evidence:
    ok = (m["worst_gap"] <= _TOL_GAP and not m["better"] and m["worst_recomputed"] <= _TOL_GAP
          and m["worst_dir"] <= _TOL_DIR and m["reached"] >= m["runs"] // 2)
    ev = (f"{m['problems']} problems: max |L_solver − min L_BFGS|/L = {m['worst_gap']:.1e} (tol {_TOL_GAP:.0e}); "
          f"reported vs recomputed L(P*, ω*) {m['worst_recomputed']:.1e}; {m['reached']}/{m['runs']} runs reach L*, "
          f"their (P, ω) match (P*, ω*) up to scaling to {m['worst_dir']:.1e} (tol {_TOL_DIR:.0e})")
    return Evidence(ok, ev, {k: v for k, v in m.items() if k != "better"})


def _theorem3_measure(quick: bool, solver=solve, count: int | None = None) -> dict:
    rng = np.random.default_rng(30)
    problems = _small_problems(rng, 3 if quick else 10)[:count]
    starts = 5 if quick else 12
    worst_gap, worst_dir, worst_rec, reached, total = 0.0, 0.0, 0.0, 0, 0
    better = []
    for k, pr in enumerate(problems):
        opt = solver(pr)
        runs = multistart_bfgs(pr, starts, seed=k)
        best = min(r.risk for r in runs)
        gap = (opt.risk - best) / abs(opt.risk)
        worst_gap = max(worst_gap, abs(gap))
        worst_rec = max(worst_rec, abs(risk(pr, opt.P, opt.omega) - opt.risk) / abs(opt.risk))
        if gap > _TOL_GAP:
            better.append((k, gap))
        for r in runs:
            total += 1
            if abs(r.risk - opt.risk) <= _TOL_GAP * abs(opt.risk):
                reached += 1
                worst_dir = max(worst_dir, _direction_error(pr, opt, r))
    return {"worst_gap": worst_gap, "worst_dir": worst_dir, "worst_recomputed": worst_rec,
            "reached": reached, "runs": total, "better": better, "problems": len(problems)}


def _control_theorem3(quick: bool) -> Evidence:
    from dataclasses import replace

    def risk_high(pr):  # reports a risk 1e-8 (relative) above the best: 10× the tolerance
        opt = solve(pr)
        return replace(opt, risk=opt.risk * (1 + 1e-8))

    def omega_off(pr):  # one weight off by 1e-5: the risk moves by ~1e-10 only, the direction by 1e-5
        opt = solve(pr)
        w = opt.omega.copy()
        w[0] += 1e-5 * np.max(np.abs(w))
        return replace(opt, omega=w)

    def p_off(pr):  # P* 1e-3 too large, risk reported as the true optimum
        opt = solve(pr)
        return replace(opt, P=opt.P * 1.001)

    return any_passed(*(_criterion_theorem3(_theorem3_measure(True, f, count=2)) for f in (risk_high, omega_off, p_off)))


@register(
    "optimum.theorem3_global_minimum",
    claim="solver risk = best multi-start BFGS risk (1e-9 rel); minimisers agree with (P*, ω*) up to scaling (Theorem 3)",
    method="numeric (multi-start BFGS + Newton polish on the closed-form risk)",
    group=GROUP,
    control=_control_theorem3,
)
def _theorem3(quick: bool) -> Evidence:
    return _criterion_theorem3(_theorem3_measure(quick))


def _direction_error(pr: Problem, opt, run) -> float:
    """max of the angle-type errors of P (on range(Σ)) and ω, and of the scale product."""
    lam, u = pr.sigma_eig
    keep = lam > 1e-14 * lam[-1]
    U = u[:, keep]
    A, B = U.T @ run.P @ U, U.T @ opt.P @ U
    t = float(np.sum(A * B) / np.sum(B * B))
    s = float(run.omega @ opt.omega / (opt.omega @ opt.omega))
    return max(relative_error(A, t * B), relative_error(run.omega, s * opt.omega), abs(t * s - 1))


_TOL_SD_RISK = 1e-12
_TOL_SD = 1e-9


def _criterion_structured(worst: dict, count: int) -> Evidence:
    ok = worst["risk"] <= _TOL_SD_RISK and max(worst["gamma"], worst["omega"], worst["P"]) <= _TOL_SD
    return Evidence(ok, f"{count} random segment problems (κ(Σ) ≤ 3e3, some σ² = 0): max rel diff "
                        + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
                        + f" (tol risk {_TOL_SD_RISK:.0e}, others {_TOL_SD:.0e})", worst)


def _structured_measure(quick: bool, structured=None, count: int | None = None) -> tuple[dict, int]:
    if structured is None:
        structured = solve
    rng = np.random.default_rng(40)
    worst = {"risk": 0.0, "gamma": 0.0, "omega": 0.0, "P": 0.0}
    count = count or (6 if quick else 25)
    for i in range(count):
        segs = [int(s) for s in rng.integers(1, 30, size=int(rng.integers(1, 6)))]
        pr = random_problem(rng, int(rng.integers(1, 7)), segments=segs, condition=float(np.exp(rng.uniform(0, 8))),
                            noise=0.0 if i % 3 == 0 else None)
        a, b = structured(pr), solve(pr, structured=False)
        worst["risk"] = max(worst["risk"], abs(a.risk - b.risk) / abs(b.risk))
        worst["gamma"] = max(worst["gamma"], abs(a.gamma - b.gamma) / b.gamma)
        worst["omega"] = max(worst["omega"], relative_error(a.omega, b.omega))
        worst["P"] = max(worst["P"], relative_error(a.P, b.P))
    return worst, count


def _control_structured(quick: bool) -> Evidence:
    from dataclasses import replace

    def risk_off(pr):  # the segment path's risk off by 1e-11: 10× the tolerance
        opt = solve(pr)
        return replace(opt, risk=opt.risk * (1 + 1e-11))

    def omega_off(pr):  # its ω* tilted by up to 1e-8: 10× the tolerance
        opt = solve(pr)
        return replace(opt, omega=opt.omega * (1 + 1e-8 * np.linspace(0, 1, opt.omega.size)))

    return any_passed(_criterion_structured(*_structured_measure(True, risk_off, count=3)),
                      _criterion_structured(*_structured_measure(True, omega_off, count=3)))


@register(
    "optimum.structured_vs_dense",
    claim="segment path O(K³ + d³ + n) == dense path O(d³ + n³) (risk, γ*, ω*, P*)",
    method="numeric",
    group=GROUP,
    control=_control_structured,
)
def _structured(quick: bool) -> Evidence:
    return _criterion_structured(*_structured_measure(quick))


def _random_measures(rng, d, m):
    lam = np.exp(rng.uniform(-4, 4) + rng.uniform(-3, 3, d) * rng.uniform(0, 1.5))
    rho = np.exp(rng.uniform(-4, 4) + rng.uniform(-4, 4, m) * rng.uniform(0, 1.5))
    w = np.exp(rng.uniform(-6, 6, m))
    return lam, rho, w


def _composite(lam, rho, w, grid=400):
    ps, pr = SecularFunction(lam, lam**2), SecularFunction(rho, w)
    a, b = float(pr(ps.at_zero)), float(pr(ps.at_infinity))
    lo, hi = min(a, b), max(a, b)
    g = np.geomspace(lo, hi, grid) if hi > lo * (1 + 1e-12) else np.array([lo])
    mu, es = ps.with_elasticity(g)
    _, er = pr.with_elasticity(mu)
    return ps, pr, lo, hi, float(np.max(es * er))


def _gap_bound(lam, rho):
    return 4 * (gap_delta(lam.min(), lam.max()) * gap_delta(rho.min(), rho.max())) ** 2


def _criterion_gap(m: dict) -> Evidence:
    ok = not m["violations"] and m["unique"] == m["held"] and m["held"] > 0
    return Evidence(ok, f"{m['count']} random (Σ, task) spectra: contraction ≤ gap bound in all but "
                        f"{len(m['violations'])} (max ratio {m['max_ratio']:.3f}); gap condition held in {m['held']}, "
                        f"unique fixed point and E < 1 in {m['unique']}",
                    {"violations": m["violations"][:5], "held": m["held"], "unique": m["unique"],
                     "max_ratio": m["max_ratio"]})


def _gap_measure(quick: bool, bound_of=_gap_bound, finder=find_fixed_points, count: int | None = None) -> dict:
    rng = np.random.default_rng(50)
    count = count or (150 if quick else 1500)
    violations, held, unique_when_held, max_ratio = [], 0, 0, 0.0
    for _ in range(count):
        lam, rho, w = _random_measures(rng, int(rng.integers(1, 8)), int(rng.integers(1, 6)))
        ps, pr, lo, hi, E = _composite(lam, rho, w)
        bound = bound_of(lam, rho)
        if bound > 0:
            max_ratio = max(max_ratio, E / bound)
        if E > bound * (1 + 1e-9) + 1e-14:
            violations.append((E, bound))
        if bound < 1:
            held += 1
            scan = finder(lambda x: np.log(pr(ps(np.exp(x)))), lo, hi)
            unique_when_held += len(scan.roots) == 1 and not scan.unresolved and E < 1
    return {"violations": violations, "held": held, "unique": unique_when_held, "max_ratio": max_ratio,
            "count": count}


def _control_gap(quick: bool) -> Evidence:
    from dataclasses import replace

    def squared_bound(lam, rho):  # 4δ_Σ⁴δ_R⁴: the bound with the squares applied twice
        return _gap_bound(lam, rho) ** 2 / 4

    def doubled_roots(*args, **kw):  # a scan that reports each root twice
        scan = find_fixed_points(*args, **kw)
        return replace(scan, roots=scan.roots + scan.roots)

    return any_passed(_criterion_gap(_gap_measure(True, bound_of=squared_bound, count=60)),
                      _criterion_gap(_gap_measure(True, finder=doubled_roots, count=60)))


@register(
    "optimum.gap_condition",
    claim="sup_I |d log(φ_R∘φ_Σ)/d log γ| ≤ 4δ_Σ²δ_R², so δ_Σ·δ_R < 1/2 ⇒ exactly one fixed point",
    method="numeric (random measures, fixed-point scan)",
    group=GROUP,
    control=_control_gap,
)
def _gap(quick: bool) -> Evidence:
    return _criterion_gap(_gap_measure(quick))


def _criterion_stress(m: dict) -> Evidence:
    case = m["case"]
    ok = m["bound_ok"] and case["ok"]
    ev = (f"largest contraction constant found {m['best']:.4f} ({m['evals']} evaluations, gap bound never violated: "
          f"{m['bound_ok']}); counterexample (d=10, segments [1, 2400]): {case['text']}")
    data = {"max_contraction": m["best"], "evaluations": m["evals"], "bound_ok": m["bound_ok"], **case}
    if m["best_x"] is not None:
        data["argmax"] = {"d": m["best_x"][0], "m": m["best_x"][1], "log_params": m["best_x"][2].tolist()}
    return Evidence(ok, ev, data)


def _stress_measure(quick: bool, solver=solve, bound_of=_gap_bound, restarts: int | None = None) -> dict:
    rng = np.random.default_rng(60)
    restarts_, iters = (10, 500) if quick else (30, 2500)
    restarts = restarts_ if restarts is None else restarts
    best, best_x, bound_ok, evals = 0.0, None, True, 0
    for _ in range(restarts):
        d, m = int(rng.integers(2, 11)), int(rng.integers(2, 4))

        def neg(x, d=d, m=m):
            nonlocal bound_ok, evals
            x = np.clip(x, -25, 25)
            lam, rho, w = np.exp(x[:d]), np.exp(x[d:d + m]), np.exp(x[d + m:])
            E = _composite(lam, rho, w, grid=200)[4]
            evals += 1
            if E > bound_of(lam, rho) * (1 + 1e-9) + 1e-14:
                bound_ok = False
            return -E

        res = minimize(neg, rng.normal(size=d + 2 * m) * 2, method="Nelder-Mead",
                       options={"maxiter": iters, "xatol": 1e-8, "fatol": 1e-10})
        if -res.fun > best:
            best, best_x = float(-res.fun), (d, m, res.x)
    return {"best": best, "best_x": best_x, "bound_ok": bound_ok, "evals": evals, "case": _counterexample(solver)}


def _highest_risk_solver(pr):
    """A wrong solver: the *highest*-risk fixed point, with its (consistent) P, ω and risk."""
    from dataclasses import replace

    opt = solve(pr)
    rays = [sp for sp in classify(pr, opt) if sp.kind == "ray"]
    worst = max(rays, key=lambda sp: sp.risk)
    if worst.gamma == opt.gamma:
        return opt
    return replace(opt, gamma=worst.gamma, mu=worst.mu, risk=worst.risk, normalized_risk=worst.risk / pr.null_risk,
                   P=worst.P, omega=worst.omega)


def _control_stress(quick: bool) -> Evidence:
    def dropped_saddle(pr):  # a scan that misses the repelling fixed point
        from dataclasses import replace

        opt = solve(pr)
        keep = [i for i, s in enumerate(opt.fixed_point_slopes) if s < 1]
        return replace(opt, fixed_points=tuple(opt.fixed_points[i] for i in keep),
                       fixed_point_risks=tuple(opt.fixed_point_risks[i] for i in keep),
                       fixed_point_slopes=tuple(opt.fixed_point_slopes[i] for i in keep))

    def no_factor_4(lam, rho):  # δ_Σ²δ_R² without its factor 4: the search must find it violated
        return _gap_bound(lam, rho) / 4

    return any_passed(_criterion_stress(_stress_measure(True, _highest_risk_solver, restarts=0)),
                      _criterion_stress(_stress_measure(True, dropped_saddle, restarts=0)),
                      _criterion_stress(_stress_measure(True, bound_of=no_factor_4, restarts=1)))


@register(
    "optimum.uniqueness_stress",
    claim="adversarial search for the largest contraction constant / a second fixed point (no gap condition)",
    method="numeric (Nelder–Mead over spectra) + reproducible counterexample",
    group=GROUP,
    control=_control_stress,
)
def _stress(quick: bool) -> Evidence:
    return _criterion_stress(_stress_measure(quick))


def _counterexample(solver=solve) -> dict:
    """Three fixed points at σ² = 1 (min, saddle, min), the solver choosing the lower minimum;
    two equal global minima at the tie σ²."""
    pr = three_fixed_points_problem(1.0)
    opt = solver(pr)
    rays = [sp for sp in classify(pr, opt) if sp.kind == "ray"]
    types = [sp.type for sp in rays]
    slopes = opt.fixed_point_slopes
    # which point is chosen: the lowest of the risks recomputed at every ray (closed form, best P for its ω)
    recomputed = [best_for_weights(pr, sp.omega).risk for sp in rays]
    chosen_ok = (len(rays) == 3 and opt.gamma == rays[int(np.argmin(recomputed))].gamma
                 and abs(opt.risk - min(recomputed)) <= 1e-12 * abs(opt.risk))
    s2 = tie_noise()
    tie = solver(three_fixed_points_problem(s2))
    r = tie.fixed_point_risks
    gap = abs(r[0] - r[-1]) / abs(r[-1]) if len(r) == 3 else np.inf
    ok = (len(opt.fixed_points) == 3 and types == ["minimum", "saddle", "minimum"]
          and slopes[0] < 1 < slopes[1] and slopes[2] < 1 and gap < 1e-12 and chosen_ok
          and tie.fixed_points[-1] / tie.fixed_points[0] > 5)
    text = (f"σ²=1: {len(opt.fixed_points)} fixed points γ = {', '.join(f'{g:.4g}' for g in opt.fixed_points)} "
            f"({'/'.join(types)}, slopes {', '.join(f'{s:.3f}' for s in slopes)}), recomputed risks "
            f"{', '.join(f'{x:.8g}' for x in recomputed)}, chosen γ = {opt.gamma:.4g} "
            f"({'the lowest' if chosen_ok else 'NOT the lowest'}); at σ² = {s2:.12g} the two minima "
            f"γ = {tie.fixed_points[0]:.4g} and {tie.fixed_points[-1]:.4g} have equal risk (rel diff {gap:.1e}): "
            "the global minimiser is NOT unique without the gap condition")
    return {"ok": bool(ok), "text": text, "tie_noise": s2, "fixed_points": list(opt.fixed_points),
            "slopes": list(slopes), "types": types, "tie_gap": gap, "chosen_ok": bool(chosen_ok),
            "recomputed_risks": recomputed}
