"""Checks of the population risk (THEORY.md §4): symbolic (two derivations), compiled, numeric, Monte Carlo.

* ``risk.symbolic_explicit_vs_trace``: the explicit small-size derivation (every entry of Σ's
  factor, R̄, P, ω, σ² symbolic) equals the general trace-form derivation, as a polynomial identity.
* ``risk.compiled_vs_numeric``: the lambdified trace form equals ``numerics.risk.risk``.
* ``risk.structured_vs_dense``: the O(n) segment path equals the dense path.
* ``risk.closed_form_vs_monte_carlo``: |z| ≤ 4 with the conditional estimator at random points of six
  small settings (relative SE ≤ 0.35%) and at the optima of six mid-size ones, and with the fully
  sampled one on three; its negative control rejects a 1% error in the whole formula or in any
  single coefficient a, b, c, and a dropped D_R term.
* ``risk.scale_invariance``: L(tP, ω/t) = L(P, ω).
* ``risk.noise_floor``: L ≥ σ² at random points and at numerically minimised points.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import minimize

from numerics.montecarlo import monte_carlo_risk
from numerics.risk import preconditioner_terms, risk
from numerics.solver import solve

from .random_problems import mixed_problems, random_problem, random_pw
from .registry import Evidence, register

__all__: list[str] = []

_SIZES_QUICK = [(1, 1), (1, 2), (2, 1), (2, 2)]
_SIZES_FULL = _SIZES_QUICK + [(1, 3), (3, 1), (2, 3), (3, 2)]


def _settings(rng, count):
    """Random settings alternating dense / segment, with non-identity Σ and non-unit task variances."""
    return mixed_problems(rng, count, dims=(1, 5), tokens=(1, 8), num_segments=(1, 4), segment_size=(1, 6),
                          condition=(1, 20))


@register(
    "risk.symbolic_explicit_vs_trace",
    claim="explicit small-size Wick derivation == general trace-form derivation (polynomial identity)",
    method="symbolic (SymPy)",
)
def _explicit_vs_trace(quick: bool) -> Evidence:
    from theory import explicit_minus_trace

    sizes = _SIZES_QUICK if quick else _SIZES_FULL
    bad = []
    for d, n in sizes:
        diff = explicit_minus_trace(d, n)
        if diff != 0:
            bad.append((d, n, str(diff)[:80]))
    listed = ", ".join(f"(d={d},n={n})" for d, n in sizes)
    if bad:
        return Evidence(False, f"nonzero difference at {bad}", {"sizes": sizes})
    return Evidence(True, f"difference simplifies to 0 at {listed}", {"sizes": sizes})


@register(
    "risk.compiled_vs_numeric",
    claim="lambdified symbolic trace form == numerics.risk closed form",
    method="symbolic→numeric",
)
def _compiled_vs_numeric(quick: bool) -> Evidence:
    from theory import compile_trace_risk

    f = compile_trace_risk()
    rng = np.random.default_rng(20251)
    worst = 0.0
    count = 10 if quick else 40
    for pr in _settings(rng, count):
        pr = pr.as_dense()
        P, omega = random_pw(rng, pr)
        P = P * rng.uniform(0.1, 10.0)
        sym = float(f(np.array(pr.sigma), np.array(pr.task_matrix), P, omega, pr.noise))
        num = risk(pr, P, omega)
        worst = max(worst, abs(sym - num) / max(abs(num), 1e-300))
    return Evidence(worst <= 1e-11, f"max relative difference {worst:.2e} over {count} settings (tol 1e-11)",
                    {"max_rel_err": worst, "settings": count})


@register(
    "risk.structured_vs_dense",
    claim="O(n) segment path == dense path (never forming n×n in the former)",
    method="numeric",
)
def _structured_vs_dense(quick: bool) -> Evidence:
    rng = np.random.default_rng(7)
    worst = 0.0
    count = 10 if quick else 50
    for _ in range(count):
        segs = [int(s) for s in rng.integers(1, 12, size=int(rng.integers(1, 5)))]
        pr = random_problem(rng, int(rng.integers(1, 6)), segments=segs, condition=30.0)
        P, omega = random_pw(rng, pr)
        a, b = risk(pr, P, omega), risk(pr.as_dense(), P, omega)
        worst = max(worst, abs(a - b) / abs(b))
    return Evidence(worst <= 1e-12, f"max relative difference {worst:.2e} over {count} problems (tol 1e-12)",
                    {"max_rel_err": worst})


# ---------------------------------------------------------------- closed form vs Monte Carlo
# Strong leg, conditional estimator (tasks and label noise integrated out given the sampled
# demonstration features; numerics.mc_estimators), on two groups of settings:
#   * random (P, ω), ω of both signs, on six small settings (d < 5, n < 25): each risk resolved to
#     ≤ 0.35% relative SE, so an error of 1% in the whole closed form is ≳ 3 SE everywhere;
#   * the optimum (P*, ω*) of six mid-size settings (3 ≤ d ≤ 8, 10 ≤ n ≤ 36), where the per-prompt
#     variance is small and the three terms of L are large and partly cancel: there an error of 1%
#     in any single coefficient (a, b or c) moves some z-score by ≳ 6.
# Plain leg: everything sampled on three of the small settings, the most independent estimator.
_MC_Z_MAX = 4.0
_MC_STRONG_REL_SE = 3.5e-3
_MC_PLAIN_REL_SE = 2e-2


@functools.lru_cache(maxsize=2)
def _mc_runs(quick: bool):
    """Closed form, its three terms and Monte Carlo on both groups; shared by check and control."""
    rng = np.random.default_rng(314)
    samples = 200_000 if quick else 1_000_000
    at_optimum = 30_000 if quick else 200_000
    points = []
    for pr in _settings(rng, 6):
        P, omega = random_pw(rng, pr)
        points.append((pr, P, omega * rng.choice([-1.0, 1.0], size=pr.n), samples))
    mid = mixed_problems(np.random.default_rng(271), 6, dims=(3, 9), tokens=(10, 31), num_segments=(2, 5),
                         segment_size=(3, 15), condition=(1, 20))
    for pr in mid:
        opt = solve(pr)
        points.append((pr, opt.P, opt.omega, at_optimum))
    runs = []
    for i, (pr, P, omega, m) in enumerate(points):
        a, b, c = preconditioner_terms(pr, P)
        runs.append({
            "exact": risk(pr, P, omega),
            "terms": {"a": -2.0 * a * pr.r_dot(omega), "b": b * pr.quad_m1(omega), "c": c * pr.quad_m2(omega)},
            "D_R": b * float(np.sum(pr.diag_r * omega * omega)),
            "strong": monte_carlo_risk(pr, P, omega, samples=m, seed=1000 + i, estimator="conditional"),
            "plain": monte_carlo_risk(pr, P, omega, samples=samples, seed=2000 + i, estimator="plain")
            if i < 3 else None,
        })
    return runs, samples, at_optimum


def _mc_verdict(refs, results, rel_se_max):
    """The pass criterion: every |z| ≤ 4 and every relative SE ≤ ``rel_se_max`` (the power guard).

    Returns (passed, z-scores, relative SEs).
    """
    zs = [mc.z_score(ref) for ref, mc in zip(refs, results)]
    rels = [mc.relative_stderr for mc in results]
    return max(abs(z) for z in zs) <= _MC_Z_MAX and max(rels) <= rel_se_max, zs, rels


def _legs(quick, reference):
    runs, samples, at_optimum = _mc_runs(quick)
    strong = _mc_verdict([reference(r) for r in runs], [r["strong"] for r in runs], _MC_STRONG_REL_SE)
    plain_runs = [r for r in runs if r["plain"] is not None]
    plain = _mc_verdict([reference(r) for r in plain_runs], [r["plain"] for r in plain_runs], _MC_PLAIN_REL_SE)
    return strong, plain, samples, at_optimum


def _fmt(zs):
    return ", ".join(f"{z:+.1f}" for z in zs)


_WRONG_FORMULAS = {
    "closed form × 1.01": lambda r: 1.01 * r["exact"],
    "closed form × 0.99": lambda r: 0.99 * r["exact"],
    "a × 1.01": lambda r: r["exact"] + 0.01 * r["terms"]["a"],
    "b × 1.01": lambda r: r["exact"] + 0.01 * r["terms"]["b"],
    "c × 1.01": lambda r: r["exact"] + 0.01 * r["terms"]["c"],
    "M1 = R (D_R dropped)": lambda r: r["exact"] - r["D_R"],
}


def _closed_vs_mc_control(quick: bool) -> Evidence:
    """The same criterion against deliberately wrong closed forms: each must be rejected."""
    accepted, lines = [], []
    for name, wrong in _WRONG_FORMULAS.items():
        (ok, zs, _), _, _, _ = _legs(quick, wrong)
        lines.append(f"{name}: max |z| {max(abs(z) for z in zs):.1f} {'accepted' if ok else 'rejected'}")
        if ok:
            accepted.append(name)
    return Evidence(bool(accepted), "; ".join(lines), {"accepted": accepted})


@register(
    "risk.closed_form_vs_monte_carlo",
    claim="closed-form risk == Monte Carlo mean within 4 standard errors, resolved to ≤ 0.35% (conditional "
          "estimator; random points with ω of both signs and optima of mid-size problems) and with everything "
          "sampled (plain estimator); non-identity Σ, non-unit task variances",
    method="Monte Carlo",
    control=_closed_vs_mc_control,
)
def _closed_vs_mc(quick: bool) -> Evidence:
    (s_ok, s_z, s_rel), (p_ok, p_z, p_rel), samples, at_optimum = _legs(quick, lambda r: r["exact"])
    return Evidence(
        s_ok and p_ok,
        f"conditional: z [{_fmt(s_z)}] (6 random points × {samples} prompts, 6 optima × {at_optimum}), "
        f"relative SE ≤ {max(s_rel):.1e} (≤ {_MC_STRONG_REL_SE:.1e} required); plain: z [{_fmt(p_z)}], "
        f"relative SE ≤ {max(p_rel):.1e}; |z| ≤ {_MC_Z_MAX:g}",
        {"z_scores": s_z, "relative_stderr": s_rel, "plain_z_scores": p_z, "plain_relative_stderr": p_rel,
         "samples": samples, "samples_at_optima": at_optimum, "estimators": ["conditional", "plain"]},
    )


@register("risk.scale_invariance", claim="L(tP, ω/t) = L(P, ω) for t ≠ 0", method="numeric")
def _scale_invariance(quick: bool) -> Evidence:
    rng = np.random.default_rng(11)
    worst = 0.0
    count = 20 if quick else 100
    for pr in _settings(rng, count):
        P, omega = random_pw(rng, pr)
        base = risk(pr, P, omega)
        for t in (-3.7, -0.01, 0.5, 123.0):
            worst = max(worst, abs(risk(pr, t * P, omega / t) - base) / abs(base))
    return Evidence(worst <= 1e-12, f"max relative change {worst:.2e} over {count} problems × 4 scales (tol 1e-12)",
                    {"max_rel_err": worst})


@register("risk.noise_floor", claim="L(P, ω) ≥ σ² everywhere (noise is irreducible)", method="numeric + BFGS")
def _noise_floor(quick: bool) -> Evidence:
    rng = np.random.default_rng(5)
    margin = np.inf
    count = 4 if quick else 12
    for pr in _settings(rng, count):
        d, n = pr.d, pr.n
        P0, w0 = random_pw(rng, pr)
        for _ in range(200):
            P, w = rng.standard_normal((d, d)), rng.standard_normal(n)
            margin = min(margin, risk(pr, P, w) - pr.noise)

        def obj(v):
            return risk(pr, v[: d * d].reshape(d, d), v[d * d:])

        res = minimize(obj, np.concatenate([P0.ravel(), w0]), method="BFGS", options={"gtol": 1e-10})
        margin = min(margin, float(res.fun) - pr.noise)
    return Evidence(margin >= 0.0, f"min (L − σ²) = {margin:.4g} over random points and BFGS minima ({count} problems)",
                    {"min_margin": margin})
