"""Checks of the population risk (THEORY.md §4): symbolic (two derivations), compiled, numeric, Monte Carlo.

* ``risk.symbolic_explicit_vs_trace``: the explicit small-size derivation (every entry of Σ's
  factor, R̄, P, ω, σ² symbolic) equals the general trace-form derivation, as a polynomial identity.
* ``risk.compiled_vs_numeric``: the lambdified trace form equals ``numerics.risk.risk``.
* ``risk.structured_vs_dense``: the O(n) segment path equals the dense path.
* ``risk.closed_form_vs_monte_carlo``: |z| ≤ 4 on several random settings.
* ``risk.scale_invariance``: L(tP, ω/t) = L(P, ω).
* ``risk.noise_floor``: L ≥ σ² at random points and at numerically minimised points.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from numerics.montecarlo import monte_carlo_risk
from numerics.risk import risk

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


@register(
    "risk.closed_form_vs_monte_carlo",
    claim="closed-form risk == Monte Carlo mean within 4 standard errors (non-identity Σ, non-unit task variances)",
    method="Monte Carlo",
)
def _closed_vs_mc(quick: bool) -> Evidence:
    rng = np.random.default_rng(314)
    samples = 200_000 if quick else 1_000_000
    zs, rels = [], []
    for i, pr in enumerate(_settings(rng, 6)):
        P, omega = random_pw(rng, pr)
        exact = risk(pr, P, omega)
        mc = monte_carlo_risk(pr, P, omega, samples=samples, seed=1000 + i)
        zs.append(mc.z_score(exact))
        rels.append(mc.stderr / exact)
    worst = max(abs(z) for z in zs)
    zs_txt = ", ".join(f"{z:+.2f}" for z in zs)
    return Evidence(
        worst <= 4.0,
        f"z-scores [{zs_txt}] with {samples} prompts each (|z| ≤ 4; relative SE ≤ {max(rels):.1e})",
        {"z_scores": zs, "samples": samples, "relative_stderr": rels},
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
