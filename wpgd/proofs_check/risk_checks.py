"""Checks of the population risk (docs/theory.md §4): symbolic (two derivations), compiled, numeric, Monte Carlo.

* ``risk.symbolic_explicit_vs_trace``: the explicit small-size derivation (every entry of Σ's
  factor, R̄, P, ω, σ² symbolic) equals the general trace-form derivation, as a polynomial identity.
* ``risk.compiled_vs_numeric``: the lambdified trace form equals ``wpgd.numerics.core.risk.risk``.
* ``risk.structured_vs_dense``: the O(n) segment path equals the dense path.
* ``risk.closed_form_vs_monte_carlo``: |z| ≤ 4 with the conditional estimator at random points of six
  small settings (relative SE ≤ 0.35%) and at the optima of six mid-size ones, and with the fully
  sampled one on three; its negative control rejects a 1% error in the whole formula or in any
  single coefficient a, b, c, and a dropped D_R term.
* ``risk.scale_invariance``: L(tP, ω/t) = L(P, ω).
* ``risk.noise_floor``: L ≥ σ² at random points and at numerically minimised points.

Every check keeps its pass criterion in one ``_criterion_*`` function shared with its negative
control (``_control_*``), which feeds the same measurement a deliberately wrong formula: one
wrong in a way a derivation could be (a transposed P, swapped tokens), and, where the criterion
has a tolerance, one wrong by about 10× that tolerance (so loosening it is caught).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import minimize

from wpgd.numerics.core.montecarlo import monte_carlo_risk
from wpgd.numerics.core.risk import preconditioner_terms, risk
from wpgd.numerics.core.solver import solve

from .random_problems import mixed_problems, random_problem, random_pw
from .registry import Evidence, any_passed, register

__all__: list[str] = []

_SIZES_QUICK = [(1, 1), (1, 2), (2, 1), (2, 2)]
_SIZES_FULL = _SIZES_QUICK + [(1, 3), (3, 1), (2, 3), (3, 2)]


def _settings(rng, count):
    """Random settings alternating dense / segment, with non-identity Σ and non-unit task variances."""
    return mixed_problems(rng, count, dims=(1, 5), tokens=(1, 8), num_segments=(1, 4), segment_size=(1, 6),
                          condition=(1, 20))


def _poly_difference(a, b):
    """Expanded ``a − b`` in a sparse polynomial ring (exact; 0 iff equal)."""
    import sympy as sp

    gens = sorted(a.free_symbols | b.free_symbols, key=sp.default_sort_key)
    ring = sp.polys.rings.PolyRing(gens, sp.QQ)
    return (ring.from_expr(a) - ring.from_expr(b)).as_expr()


def _criterion_identities(diffs, what: str = "difference") -> Evidence:
    """Pass iff every ``(d, n, difference)`` is exactly 0."""
    sizes = [(d, n) for d, n, _ in diffs]
    bad = [(d, n, str(diff)[:80]) for d, n, diff in diffs if diff != 0]
    listed = ", ".join(f"(d={d},n={n})" for d, n in sizes)
    if bad:
        return Evidence(False, f"nonzero {what} at {bad}", {"sizes": sizes})
    return Evidence(True, f"{what} simplifies to 0 at {listed}", {"sizes": sizes})


def _explicit_minus_wrong_trace(d: int, n: int):
    """The explicit risk minus a trace form with the first two demonstrations swapped (n ≥ 2)."""
    from wpgd.theory.explicit import explicit_risk
    from wpgd.theory.risk import trace_form_at

    explicit, S = explicit_risk(d, n)
    swap = {S.omega[0]: S.omega[1], S.omega[1]: S.omega[0]}
    return _poly_difference(explicit, trace_form_at(d, n).xreplace(swap))


def _control_explicit_vs_trace(quick: bool) -> Evidence:
    return _criterion_identities([(d, n, _explicit_minus_wrong_trace(d, n)) for d, n in [(1, 2), (2, 2)]])


@register(
    "risk.symbolic_explicit_vs_trace",
    claim="explicit small-size Wick derivation == general trace-form derivation (polynomial identity)",
    method="symbolic (SymPy)",
    control=_control_explicit_vs_trace,
)
def _explicit_vs_trace(quick: bool) -> Evidence:
    from wpgd.theory import explicit_minus_trace

    sizes = _SIZES_QUICK if quick else _SIZES_FULL
    return _criterion_identities([(d, n, explicit_minus_trace(d, n)) for d, n in sizes])


_TOL_COMPILED = 1e-11


def _criterion_compiled(worst: float, count: int) -> Evidence:
    return Evidence(worst <= _TOL_COMPILED,
                    f"max relative difference {worst:.2e} over {count} settings (tol {_TOL_COMPILED:.0e})",
                    {"max_rel_err": worst, "settings": count})


def _compiled_error(quick: bool, f) -> tuple[float, int]:
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
    return worst, count


def _control_compiled(quick: bool) -> Evidence:
    from wpgd.theory import compile_trace_risk

    f = compile_trace_risk()
    transposed = lambda S, R, P, w, s2: f(S, R, P.T, w, s2)  # noqa: E731  xᵀPᵀ… for xᵀP…
    near = lambda S, R, P, w, s2: f(S, R, P, w, s2 * (1 + 3e-10))  # noqa: E731  noise off by 3e-10
    return any_passed(_criterion_compiled(*_compiled_error(True, transposed)),
                      _criterion_compiled(*_compiled_error(True, near)))


@register(
    "risk.compiled_vs_numeric",
    claim="lambdified symbolic trace form == wpgd.numerics.core.risk closed form",
    method="symbolic→numeric",
    control=_control_compiled,
)
def _compiled_vs_numeric(quick: bool) -> Evidence:
    from wpgd.theory import compile_trace_risk

    return _criterion_compiled(*_compiled_error(quick, compile_trace_risk()))


_TOL_STRUCTURED = 1e-12


def _criterion_structured(worst: float, count: int) -> Evidence:
    return Evidence(worst <= _TOL_STRUCTURED,
                    f"max relative difference {worst:.2e} over {count} problems (tol {_TOL_STRUCTURED:.0e})",
                    {"max_rel_err": worst})


def _structured_error(quick: bool, structured_risk) -> tuple[float, int]:
    rng = np.random.default_rng(7)
    worst = 0.0
    count = 10 if quick else 50
    for _ in range(count):
        segs = [int(s) for s in rng.integers(1, 12, size=int(rng.integers(1, 5)))]
        pr = random_problem(rng, int(rng.integers(1, 6)), segments=segs, condition=30.0)
        P, omega = random_pw(rng, pr)
        a, b = structured_risk(pr, P, omega), risk(pr.as_dense(), P, omega)
        worst = max(worst, abs(a - b) / abs(b))
    return worst, count


def _control_structured(quick: bool) -> Evidence:
    # a segment path off by 2e-11 (relative): 20× the tolerance
    near = lambda pr, P, w: risk(pr, P, w) * (1 + 2e-11)  # noqa: E731
    reversed_tokens = lambda pr, P, w: risk(pr, P, w[::-1])  # noqa: E731  tokens indexed from the query
    return any_passed(_criterion_structured(*_structured_error(True, near)),
                      _criterion_structured(*_structured_error(True, reversed_tokens)))


@register(
    "risk.structured_vs_dense",
    claim="O(n) segment path == dense path (never forming n×n in the former)",
    method="numeric",
    control=_control_structured,
)
def _structured_vs_dense(quick: bool) -> Evidence:
    return _criterion_structured(*_structured_error(quick, risk))


# ---------------------------------------------------------------- closed form vs Monte Carlo
# Strong leg, conditional estimator (tasks and label noise integrated out given the sampled
# demonstration features; wpgd.numerics.core.mc_estimators), on two groups of settings:
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


_TOL_SCALE = 1e-12


def _criterion_scale(worst: float, count: int) -> Evidence:
    return Evidence(worst <= _TOL_SCALE,
                    f"max relative change {worst:.2e} over {count} problems × 4 scales (tol {_TOL_SCALE:.0e})",
                    {"max_rel_err": worst})


def _scale_error(quick: bool, risk_fn) -> tuple[float, int]:
    rng = np.random.default_rng(11)
    worst = 0.0
    count = 20 if quick else 100
    for pr in _settings(rng, count):
        P, omega = random_pw(rng, pr)
        base = risk_fn(pr, P, omega)
        for t in (-3.7, -0.01, 0.5, 123.0):
            worst = max(worst, abs(risk_fn(pr, t * P, omega / t) - base) / abs(base))
    return worst, count


def _control_scale(quick: bool) -> Evidence:
    # a risk with a term that depends on the scale of P alone, 1e-11 relative (≈ 10× the tolerance)
    def near(pr, P, omega):
        return risk(pr, P, omega) * (1 + 1e-11 * np.tanh(np.log(np.linalg.norm(P) + 1e-300)))

    def p_squared(pr, P, omega):  # P entering twice: L(P², ω), not invariant
        return risk(pr, P @ P, omega)

    return any_passed(_criterion_scale(*_scale_error(True, near)), _criterion_scale(*_scale_error(True, p_squared)))


@register("risk.scale_invariance", claim="L(tP, ω/t) = L(P, ω) for t ≠ 0", method="numeric", control=_control_scale)
def _scale_invariance(quick: bool) -> Evidence:
    return _criterion_scale(*_scale_error(quick, risk))


def _criterion_floor(margin: float, count: int) -> Evidence:
    return Evidence(margin >= 0.0, f"min (L − σ²) = {margin:.4g} over random points and BFGS minima ({count} problems)",
                    {"min_margin": margin})


def _floor_margin(quick: bool, risk_fn, bfgs: bool = True) -> tuple[float, int]:
    rng = np.random.default_rng(5)
    margin = np.inf
    count = 4 if quick else 12
    for pr in _settings(rng, count):
        d, n = pr.d, pr.n
        P0, w0 = random_pw(rng, pr)
        for _ in range(200):
            P, w = rng.standard_normal((d, d)), rng.standard_normal(n)
            margin = min(margin, risk_fn(pr, P, w) - pr.noise)
        if not bfgs:
            continue

        def obj(v):
            return risk_fn(pr, v[: d * d].reshape(d, d), v[d * d:])

        res = minimize(obj, np.concatenate([P0.ravel(), w0]), method="BFGS", options={"gtol": 1e-10})
        margin = min(margin, float(res.fun) - pr.noise)
    return margin, count


def _control_floor(quick: bool) -> Evidence:
    # a risk a hair below σ²: σ² − 1e-12·tanh(L − σ²) (random points only: a minimiser of it runs away)
    def below(pr, P, omega):
        return pr.noise - 1e-12 * np.tanh(risk(pr, P, omega) - pr.noise)

    return _criterion_floor(*_floor_margin(True, below, bfgs=False))


@register("risk.noise_floor", claim="L(P, ω) ≥ σ² everywhere (noise is irreducible)", method="numeric + BFGS",
          control=_control_floor)
def _noise_floor(quick: bool) -> Evidence:
    return _criterion_floor(*_floor_margin(quick, risk))
