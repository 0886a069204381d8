"""Checks of the optimum (THEORY.md §5; docs/solver.md, docs/conditions.md).

* ``optimum.theorem2_stationary_set``: every point where multi-start BFGS on L, or
  Levenberg–Marquardt on ‖∇L‖², stops with a small gradient lies in the predicted stationary
  set (degenerate families or a fixed-point ray); the Hessian inertia reported by
  ``numerics.stationary.classify`` equals the dense Hessian's at every representative.
* ``optimum.theorem3_global_minimum``: the solver's risk equals the best of many BFGS runs on
  the closed-form risk (1e-9 relative); the runs reaching it agree with (P*, ω*) up to scaling.
* ``optimum.structured_vs_dense``: the O(K³ + d³ + n) segment path equals the dense path.
* ``optimum.gap_condition``: on random measures the contraction constant never exceeds the
  gap bound 4δ_Σ²δ_R²; whenever δ_Σδ_R < 1/2 there is exactly one fixed point.
* ``optimum.uniqueness_stress``: adversarial search for the largest contraction constant, and
  the reproducible counterexample of :mod:`proofs_check.optimum_cases` (two global minimisers).
* ``optimum.highprec_vs_float64``: float64 vs 50-digit mpmath on ill-conditioned problems
  (κ up to 1e12), with the interval certificate.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from numerics.descent import balanced_gradient, multistart_bfgs, multistart_stationary, risk_hessian
from numerics.fixedpoint import find_fixed_points
from numerics.problem import Problem
from numerics.secular import SecularFunction, gap_delta
from numerics.solver import solve
from numerics.stationary import classify, membership

from .optimum_cases import three_fixed_points_problem, tie_noise
from .random_problems import joint_task_matrix, mixed_problems, random_orthogonal, random_problem, spd_from_spectrum
from .registry import Evidence, register

__all__: list[str] = []

GROUP = "optimum"


def _small_problems(rng, count):
    return mixed_problems(rng, count, dims=(2, 4), tokens=(2, 6), num_segments=(2, 4), segment_size=(1, 4),
                          condition=(2, 30))


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@register(
    "optimum.theorem2_stationary_set",
    claim="stationary points of L = degenerate saddle families ∪ one ray per fixed point of φ_R∘φ_Σ (Theorem 2)",
    method="numeric (multi-start BFGS + LM on ‖∇L‖², dense Hessian inertia)",
    group=GROUP,
)
def _theorem2(quick: bool) -> Evidence:
    rng = np.random.default_rng(20)
    problems = _small_problems(rng, 3 if quick else 8)
    starts = 4 if quick else 8
    stopped = members = 0
    worst, kinds, inertia_bad = 0.0, {}, []
    for k, pr in enumerate(problems):
        opt = solve(pr)
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
            members += res < 1e-5
        for sp in classify(pr, opt):
            h = np.linalg.eigvalsh(risk_hessian(pr, np.concatenate([sp.P.ravel(), sp.omega])))
            tol = 1e-9 * np.max(np.abs(h))
            dense = (int(np.sum(h > tol)), int(np.sum(h < -tol)), int(np.sum(np.abs(h) <= tol)))
            if dense != sp.inertia or (sp.kind != "ray") != (sp.type == "saddle"):
                inertia_bad.append((k, sp.kind, sp.inertia, dense))
    total = len(problems) * 2 * starts
    ok = stopped == members and stopped >= total // 2 and not inertia_bad
    ev = (f"{stopped}/{total} runs stopped with a small gradient (≤ 1e-8 of the scale, at the balanced rescaling), "
          f"{members} in the predicted set "
          f"(by kind {kinds}), worst membership residual {worst:.1e}; inertia reduced == dense at every "
          f"representative of {len(problems)} problems" + ("" if not inertia_bad else f" EXCEPT {inertia_bad}"))
    return Evidence(ok, ev, {"stopped": stopped, "members": members, "kinds": kinds, "worst": worst,
                             "inertia_mismatch": [list(map(str, x)) for x in inertia_bad]})


@register(
    "optimum.theorem3_global_minimum",
    claim="solver risk = best multi-start BFGS risk (1e-9 rel); minimisers agree with (P*, ω*) up to scaling (Theorem 3)",
    method="numeric (multi-start BFGS + Newton polish on the closed-form risk)",
    group=GROUP,
)
def _theorem3(quick: bool) -> Evidence:
    rng = np.random.default_rng(30)
    problems = _small_problems(rng, 3 if quick else 10)
    starts = 5 if quick else 12
    worst_gap, worst_dir, reached, total = 0.0, 0.0, 0, 0
    better = []
    for k, pr in enumerate(problems):
        opt = solve(pr)
        runs = multistart_bfgs(pr, starts, seed=k)
        best = min(r.risk for r in runs)
        gap = (opt.risk - best) / abs(opt.risk)
        worst_gap = max(worst_gap, abs(gap))
        if gap > 1e-9:
            better.append((k, gap))
        for r in runs:
            total += 1
            if abs(r.risk - opt.risk) <= 1e-9 * abs(opt.risk):
                reached += 1
                worst_dir = max(worst_dir, _direction_error(pr, opt, r))
    ok = worst_gap <= 1e-9 and not better and worst_dir <= 1e-6 and reached >= total // 2
    ev = (f"{len(problems)} problems: max |L_solver − min L_BFGS|/L = {worst_gap:.1e}; {reached}/{total} runs reach "
          f"L*, their (P, ω) match (P*, ω*) up to scaling to {worst_dir:.1e}")
    return Evidence(ok, ev, {"worst_gap": worst_gap, "worst_direction": worst_dir, "reached": reached, "runs": total})


def _direction_error(pr: Problem, opt, run) -> float:
    """max of the angle-type errors of P (on range(Σ)) and ω, and of the scale product."""
    lam, u = pr.sigma_eig
    keep = lam > 1e-14 * lam[-1]
    U = u[:, keep]
    A, B = U.T @ run.P @ U, U.T @ opt.P @ U
    t = float(np.sum(A * B) / np.sum(B * B))
    s = float(run.omega @ opt.omega / (opt.omega @ opt.omega))
    return max(_rel(A, t * B), _rel(run.omega, s * opt.omega), abs(t * s - 1))


@register(
    "optimum.structured_vs_dense",
    claim="segment path O(K³ + d³ + n) == dense path O(d³ + n³) (risk, γ*, ω*, P*)",
    method="numeric",
    group=GROUP,
)
def _structured(quick: bool) -> Evidence:
    rng = np.random.default_rng(40)
    worst = {"risk": 0.0, "gamma": 0.0, "omega": 0.0, "P": 0.0}
    count = 6 if quick else 25
    for i in range(count):
        segs = [int(s) for s in rng.integers(1, 30, size=int(rng.integers(1, 6)))]
        pr = random_problem(rng, int(rng.integers(1, 7)), segments=segs, condition=float(np.exp(rng.uniform(0, 8))),
                            noise=0.0 if i % 3 == 0 else None)
        a, b = solve(pr), solve(pr, structured=False)
        worst["risk"] = max(worst["risk"], abs(a.risk - b.risk) / abs(b.risk))
        worst["gamma"] = max(worst["gamma"], abs(a.gamma - b.gamma) / b.gamma)
        worst["omega"] = max(worst["omega"], _rel(a.omega, b.omega))
        worst["P"] = max(worst["P"], _rel(a.P, b.P))
    ok = worst["risk"] <= 1e-12 and max(worst["gamma"], worst["omega"], worst["P"]) <= 1e-9
    return Evidence(ok, f"{count} random segment problems (κ(Σ) ≤ 3e3, some σ² = 0): max rel diff "
                        + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()), worst)


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


@register(
    "optimum.gap_condition",
    claim="sup_I |d log(φ_R∘φ_Σ)/d log γ| ≤ 4δ_Σ²δ_R², so δ_Σ·δ_R < 1/2 ⇒ exactly one fixed point",
    method="numeric (random measures, fixed-point scan)",
    group=GROUP,
)
def _gap(quick: bool) -> Evidence:
    rng = np.random.default_rng(50)
    count = 150 if quick else 1500
    violations, held, unique_when_held, max_ratio = [], 0, 0, 0.0
    for _ in range(count):
        lam, rho, w = _random_measures(rng, int(rng.integers(1, 8)), int(rng.integers(1, 6)))
        ps, pr, lo, hi, E = _composite(lam, rho, w)
        bound = 4 * (gap_delta(lam.min(), lam.max()) * gap_delta(rho.min(), rho.max())) ** 2
        if bound > 0:
            max_ratio = max(max_ratio, E / bound)
        if E > bound * (1 + 1e-9) + 1e-14:
            violations.append((E, bound))
        if bound < 1:
            held += 1
            scan = find_fixed_points(lambda x: np.log(pr(ps(np.exp(x)))), lo, hi)
            unique_when_held += len(scan.roots) == 1 and not scan.unresolved and E < 1
    ok = not violations and unique_when_held == held and held > 0
    return Evidence(ok, f"{count} random (Σ, task) spectra: contraction ≤ gap bound in all (max ratio {max_ratio:.3f}); "
                        f"gap condition held in {held}, unique fixed point and E < 1 in {unique_when_held}",
                    {"violations": violations[:5], "held": held, "unique": unique_when_held, "max_ratio": max_ratio})


@register(
    "optimum.uniqueness_stress",
    claim="adversarial search for the largest contraction constant / a second fixed point (no gap condition)",
    method="numeric (Nelder–Mead over spectra) + reproducible counterexample",
    group=GROUP,
)
def _stress(quick: bool) -> Evidence:
    rng = np.random.default_rng(60)
    restarts, iters = (10, 500) if quick else (30, 2500)
    best, best_x, bound_ok, evals = 0.0, None, True, 0
    for _ in range(restarts):
        d, m = int(rng.integers(2, 11)), int(rng.integers(2, 4))

        def neg(x, d=d, m=m):
            nonlocal bound_ok, evals
            x = np.clip(x, -25, 25)
            lam, rho, w = np.exp(x[:d]), np.exp(x[d:d + m]), np.exp(x[d + m:])
            E = _composite(lam, rho, w, grid=200)[4]
            evals += 1
            if E > 4 * (gap_delta(lam.min(), lam.max()) * gap_delta(rho.min(), rho.max())) ** 2 * (1 + 1e-9) + 1e-14:
                bound_ok = False
            return -E

        res = minimize(neg, rng.normal(size=d + 2 * m) * 2, method="Nelder-Mead",
                       options={"maxiter": iters, "xatol": 1e-8, "fatol": 1e-10})
        if -res.fun > best:
            best, best_x = float(-res.fun), (d, m, res.x)
    case = _counterexample()
    ok = bound_ok and case["ok"]
    ev = (f"largest contraction constant found {best:.4f} ({evals} evaluations, gap bound never violated: {bound_ok}); "
          f"counterexample (d=10, segments [1, 2400]): {case['text']}")
    data = {"max_contraction": best, "evaluations": evals, "bound_ok": bound_ok, **case}
    if best_x is not None:
        data["argmax"] = {"d": best_x[0], "m": best_x[1], "log_params": best_x[2].tolist()}
    return Evidence(ok, ev, data)


def _counterexample() -> dict:
    """Three fixed points at σ² = 1 (min, saddle, min); two equal global minima at the tie σ²."""
    pr = three_fixed_points_problem(1.0)
    opt = solve(pr)
    types = [sp.type for sp in classify(pr, opt) if sp.kind == "ray"]
    slopes = opt.fixed_point_slopes
    s2 = tie_noise()
    tie = solve(three_fixed_points_problem(s2))
    r = tie.fixed_point_risks
    gap = abs(r[0] - r[-1]) / abs(r[-1]) if len(r) == 3 else np.inf
    ok = (len(opt.fixed_points) == 3 and types == ["minimum", "saddle", "minimum"]
          and slopes[0] < 1 < slopes[1] and slopes[2] < 1 and gap < 1e-12
          and tie.fixed_points[-1] / tie.fixed_points[0] > 5)
    text = (f"σ²=1: {len(opt.fixed_points)} fixed points γ = {', '.join(f'{g:.4g}' for g in opt.fixed_points)} "
            f"({'/'.join(types)}, slopes {', '.join(f'{s:.3f}' for s in slopes)}); at σ² = {s2:.12g} the two minima "
            f"γ = {tie.fixed_points[0]:.4g} and {tie.fixed_points[-1]:.4g} have equal risk (rel diff {gap:.1e}): "
            "the global minimiser is NOT unique without the gap condition")
    return {"ok": bool(ok), "text": text, "tie_noise": s2, "fixed_points": list(opt.fixed_points),
            "slopes": list(slopes), "types": types, "tie_gap": gap}


def _ill_conditioned(rng, d, segs, kappa, kappa_task):
    lam = np.exp(np.linspace(0, np.log(kappa), d))
    sigma = spd_from_spectrum(lam / lam.max(), random_orthogonal(rng, d))
    k = len(segs)
    var = np.exp(np.linspace(0, -np.log(kappa_task), k + 1))
    joint = joint_task_matrix(rng.standard_normal((k + 1, k + 2)), var)
    return Problem.segmented(sigma, segs, joint[:k, k], correlation=joint[:k, :k], query_variance=joint[k, k],
                             noise=1e-12)


@register(
    "optimum.highprec_vs_float64",
    claim="float64 solver agrees with the 50-digit mpmath solve on ill-conditioned problems; uniqueness certified",
    method="numeric (mpmath 50 digits, mpmath.iv certificate)",
    group=GROUP,
)
def _highprec(quick: bool) -> Evidence:
    from numerics.certificate import certify
    from numerics.highprec import solve_highprec

    rng = np.random.default_rng(70)
    cases = [(1e6, 1e3), (1e12, 1e6)] if quick else [(1e3, 10), (1e6, 1e3), (1e9, 1e6), (1e12, 1e6), (1e12, 1e9)]
    rows, worst, certified = [], {"risk": 0.0, "omega": 0.0, "P": 0.0}, 0
    for i, (kappa, kt) in enumerate(cases):
        pr = _ill_conditioned(rng, 6, [4, 3, 5, 2], kappa, kt)
        if i == len(cases) - 1:
            pr = pr.as_dense()  # the dense path too (n = 14)
        opt = solve(pr)
        hp = solve_highprec(pr, 50, float_optimum=opt)
        errs = {"risk": abs(opt.risk - hp.risk) / abs(hp.risk), "omega": _rel(opt.omega, hp.omega), "P": _rel(opt.P, hp.P)}
        for key, v in errs.items():
            worst[key] = max(worst[key], v)
        cert = certify(pr, 30)
        certified += cert.certified
        rows.append({"kappa_sigma": kappa, "kappa_task_var": kt, "form": opt.method, **errs,
                     "certified": cert.certified})
    ok = worst["risk"] <= 1e-12 and worst["omega"] <= 1e-8 and worst["P"] <= 1e-8 and certified == len(cases)
    return Evidence(ok, f"κ(Σ) up to {max(c[0] for c in cases):.0e}: max rel err risk {worst['risk']:.1e}, "
                        f"ω* {worst['omega']:.1e}, P* {worst['P']:.1e}; certified {certified}/{len(cases)}",
                    {"rows": rows, "worst": worst})
