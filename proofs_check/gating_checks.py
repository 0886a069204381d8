"""Checks of "gating is weighting" (THEORY.md §2, §5; docs/gating.md).

* ``gating.theorem1_symbolic``: one-layer GLA (scalar, key-channel, value-channel gates) equals
  WPGD with ω_i = Π_{j>i} g_j, as polynomial identities (SymPy).
* ``gating.theorem1_torch``: the torch model with constructed weights equals the NumPy WPGD
  predictor to 1e-10 (float64) for random prompts and random data-dependent gates.
* ``gating.weights_monotone``: scalar-gate weights are ≥ 0 and non-decreasing; every such
  sequence is realised by constructed gates (symbolic telescoping + numeric).
* ``gating.multilayer``: L-layer GLA == the causal per-token WPGD recursion (SymPy at tiny sizes,
  torch vs :mod:`numerics.multilayer` at larger ones).
* ``gating.achievability``: constructed scalar gates realise a monotone ω*; a non-monotone ω*
  leaves the best monotone risk strictly above the optimum; a reversed two-segment prompt makes
  the scalar optimum equal linear attention; the scalar optimum matches a brute-force grid.
* ``gating.class_ordering``: linear ≥ geometric ≥ scalar ≥ unconstrained on random problems.
* ``gating.vector_width``: 2d key channels realise ω* exactly (torch); 2d − 1 cannot reach it.
"""

from __future__ import annotations

import numpy as np

from numerics.classes import class_optima, class_optimum, is_monotone
from numerics.construct import (
    ChannelGroup,
    log_gates_for_weights,
    prompt_tokens,
    scalar_segment_group,
    segment_tokens,
    vector_segment_groups,
    weights_from_log_gates,
)
from numerics.predictor import wpgd_predict
from numerics.problem import Problem
from numerics.weighting import best_for_weights

from .random_problems import random_problem
from .registry import Evidence, register

__all__: list[str] = []

GROUP = "gating"


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _skip(what: str) -> Evidence:
    return Evidence(False, f"skipped: torch is not installed ({what} needs it)", skipped=True)


def _logsigmoid(a):
    return -np.logaddexp(0.0, -a)


def _model_predict(torch, d, tokens, layers, gating):
    from numerics.construct import build_wpgd_model

    model = build_wpgd_model(d, tokens.shape[-1], layers, gating=gating)
    return model.predict(torch.as_tensor(tokens)).detach().numpy()


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


@register(
    "gating.theorem1_symbolic",
    claim="one-layer GLA with structured projections = WPGD, ω_i = Π_{j>i} g_j (scalar; key- and value-channel gates)",
    method="symbolic (SymPy)",
    group=GROUP,
)
def _theorem1_symbolic(quick: bool) -> Evidence:
    from theory.gla_symbolic import theorem1_key_gating, theorem1_scalar, theorem1_value_gating

    sizes = [(3, 2)] if quick else [(3, 2), (4, 3), (2, 1)]
    bad, done = [], []
    for n, d in sizes:
        for proof in (theorem1_scalar(n, d), theorem1_key_gating(n, d), theorem1_key_gating(n, d, shared=True),
                      theorem1_value_gating(n, d)):
            done.append(proof.claim)
            if not proof.proved:
                bad.append((proof.claim, n, d, str(proof.residual)[:80]))
    listed = ", ".join(f"(n={n},d={d})" for n, d in sizes)
    if bad:
        return Evidence(False, f"nonzero residual: {bad}", {"sizes": sizes})
    return Evidence(True, f"{len(done)} identities expand to 0 at {listed}", {"sizes": sizes})


@register(
    "gating.theorem1_torch",
    claim="torch GLA with constructed weights = NumPy WPGD predictor (float64, random gates)",
    method="numeric (torch vs NumPy)",
    group=GROUP,
)
def _theorem1_torch(quick: bool) -> Evidence:
    torch = _torch()
    if torch is None:
        return _skip("the torch model")
    rng = np.random.default_rng(41)
    worst = 0.0
    trials = 4 if quick else 16
    for i in range(trials):
        d, n, b = int(rng.integers(1, 5)), int(rng.integers(1, 20)), 8
        X, y, x = rng.standard_normal((b, n, d)), rng.standard_normal((b, n)), rng.standard_normal((b, d))
        z = prompt_tokens(X, y, x)
        P = rng.standard_normal((d, d))
        row, bias = rng.standard_normal(d + 1), float(rng.normal(1.0, 1.5))
        omega = weights_from_log_gates(_logsigmoid(z @ row + bias))  # data-dependent: (B, n)
        ref = wpgd_predict(X, y, x, P, omega)
        for gating in ("scalar", "vector"):
            worst = max(worst, _rel(_model_predict(torch, d, z, [[ChannelGroup(P, row, bias)]], gating), ref))
    return Evidence(worst < 1e-10, f"max error relative to max(1, |ŷ|): {worst:.2e} over {trials} settings × 2 gatings",
                    {"max_rel_err": worst})


@register(
    "gating.weights_monotone",
    claim="scalar-gate weights are ≥ 0 and non-decreasing toward the query; every such ω (up to scale) is realised",
    method="symbolic + numeric",
    group=GROUP,
)
def _weights_monotone(quick: bool) -> Evidence:
    from theory.gla_symbolic import scalar_weights_monotone, scalar_weights_realisable

    sym = scalar_weights_monotone(6).proved and scalar_weights_realisable(6).proved
    rng = np.random.default_rng(42)
    count = 200 if quick else 2000
    mono_ok, worst = True, 0.0
    for _ in range(count):
        n = int(rng.integers(1, 30))
        lg = np.log(rng.uniform(0.0, 1.0, size=n + 1)) * rng.uniform(0, 3)
        w = weights_from_log_gates(lg)
        mono_ok &= bool(np.all(w >= 0) and np.all(np.diff(w) >= 0))
        target = np.sort(rng.uniform(0, 1, size=n) * (rng.uniform(size=n) > 0.2))
        target[-1] = max(target[-1], 0.5)
        gates, scale = log_gates_for_weights(target)
        worst = max(worst, float(np.max(np.abs(scale * weights_from_log_gates(gates) - target))))
        mono_ok &= bool(np.all(gates <= 0))
    ok = sym and mono_ok and worst < 1e-13
    return Evidence(ok, f"symbolic identities {'hold' if sym else 'FAIL'}; {count} random gate sequences monotone: "
                    f"{mono_ok}; realisation max err {worst:.1e}", {"max_err": worst})


@register(
    "gating.multilayer",
    claim="L-layer GLA (analogous construction) = causal per-token L-step WPGD recursion",
    method="symbolic (tiny) + numeric (torch vs independent recursion)",
    group=GROUP,
)
def _multilayer(quick: bool) -> Evidence:
    from numerics.multilayer import wpgd_recursion_predict
    from theory.gla_symbolic import multilayer_equivalence

    sizes = [(2, 1, 2)] if quick else [(2, 1, 2), (2, 2, 2), (3, 1, 3)]
    sym_ok = all(multilayer_equivalence(n, d, L).proved for n, d, L in sizes)
    torch = _torch()
    if torch is None:
        return Evidence(sym_ok, f"symbolic at {sizes}: {sym_ok}; numeric part skipped (no torch)")
    rng = np.random.default_rng(43)
    worst = 0.0
    cases = [(3, 8, 2, "scalar"), (2, 6, 3, "vector")] if quick else [
        (3, 8, 2, "scalar"), (2, 6, 3, "vector"), (4, 15, 4, "scalar"), (3, 12, 3, "vector")]
    for d, n, num_layers, gating in cases:
        X, y, x = rng.standard_normal((2, n, d)), rng.standard_normal((2, n)), rng.standard_normal((2, d))
        z = prompt_tokens(X, y, x)
        spec = [[ChannelGroup(0.3 * rng.standard_normal((d, d)), np.append(rng.standard_normal(d), 0.0),
                              float(rng.normal(1.5, 1.0))) for _ in range(2 if gating == "vector" else 1)]
                for _ in range(num_layers)]
        out = _model_predict(torch, d, z, spec, gating)
        for j in range(2):
            rec = [[(g.Q, _logsigmoid(z[j] @ g.gate_weight + g.gate_bias)) for g in groups] for groups in spec]
            ref = wpgd_recursion_predict(np.vstack([X[j], x[j]]), np.append(y[j], 0.0), rec)
            worst = max(worst, abs(out[j] - ref) / max(1.0, abs(ref)))
    ok = sym_ok and worst < 1e-10
    return Evidence(ok, f"symbolic (n,d,L) in {sizes}: {'0' if sym_ok else 'NONZERO'}; torch vs recursion max rel err "
                    f"{worst:.1e} ({len(cases)} cases)", {"max_rel_err": worst})


def _experiment(c) -> Problem:
    return Problem.segmented(np.eye(5), [10, 10], c, noise=0.1)


@register(
    "gating.achievability",
    claim="scalar gates realise a monotone ω*; non-monotone ω* ⇒ best monotone risk > optimum; "
    "reversed two segments ⇒ scalar optimum = linear attention",
    method="numeric (torch construction + class optima + brute force)",
    group=GROUP,
)
def _achievability(quick: bool) -> Evidence:
    rng = np.random.default_rng(44)
    msgs, ok = [], True
    # (a) monotone ω*: constructed scalar gates reproduce WPGD(P*, ω*) in the model
    fwd = _experiment([0.2, 0.8])
    opt = class_optimum(fwd, "unconstrained")
    w = np.asarray(opt.details["segment_weights"])
    torch = _torch()
    if torch is not None:
        X, y, x = rng.standard_normal((4, 20, 5)), rng.standard_normal((4, 20)), rng.standard_normal((4, 5))
        z, _ = segment_tokens(X, y, x, [10, 10])
        out = _model_predict(torch, 5, z, [[scalar_segment_group(opt.P, w)]], "scalar")
        err = _rel(out, wpgd_predict(X, y, x, opt.P, opt.omega))
        ok &= err < 1e-10 and is_monotone(w)
        msgs.append(f"monotone ω*={np.round(w, 4).tolist()} realised, err {err:.1e}")
    else:
        msgs.append("torch part skipped")
    # (b) non-monotone ω*: strict gap, on random problems
    gaps = []
    for _ in range(6 if quick else 20):
        pr = random_problem(rng, int(rng.integers(1, 4)), segments=[int(s) for s in rng.integers(1, 6, size=3)])
        o = class_optima(pr, ("scalar", "unconstrained"))
        if not is_monotone(o["unconstrained"].omega, tol=1e-6):
            gaps.append((o["scalar"].risk - o["unconstrained"].risk) / pr.null_risk)
    ok &= len(gaps) > 0 and min(gaps) > 0
    msgs.append(f"{len(gaps)} non-monotone ω*: min normalised gap {min(gaps) if gaps else float('nan'):.2e}")
    # (c) reversed two segments: scalar = linear (and brute force over w = (a, 1))
    rev = _experiment([0.8, 0.2])
    o = class_optima(rev, ("linear", "scalar", "unconstrained"))
    grid = np.linspace(0, 1, 401 if quick else 4001)
    brute = min(best_for_weights(rev, np.repeat([a, 1.0], 10)).risk for a in grid)
    diff = abs(o["scalar"].risk - o["linear"].risk) / rev.null_risk
    ok &= diff < 1e-12 and o["scalar"].risk <= brute + 1e-12 and o["unconstrained"].risk < o["scalar"].risk - 1e-3
    msgs.append(f"reversed: |scalar − linear| = {diff:.1e} (normalised {o['linear'].normalized_risk:.6f}), "
                f"brute force {brute / rev.null_risk:.6f}, unconstrained {o['unconstrained'].normalized_risk:.6f}")
    return Evidence(bool(ok), "; ".join(msgs), {"gaps": gaps})


@register(
    "gating.class_ordering",
    claim="optimal risks: linear ≥ geometric ≥ scalar ≥ unconstrained (and vector at width 2d = unconstrained)",
    method="numeric (random problems)",
    group=GROUP,
)
def _class_ordering(quick: bool) -> Evidence:
    rng = np.random.default_rng(45)
    count = 5 if quick else 25
    worst, strict = -np.inf, 0
    for i in range(count):
        d = int(rng.integers(1, 5))
        if i % 3 == 2:
            pr = random_problem(rng, d, n=int(rng.integers(2, 8)), condition=float(rng.uniform(1, 30)))
        else:
            pr = random_problem(rng, d, segments=[int(s) for s in rng.integers(1, 10, size=int(rng.integers(2, 5)))],
                                condition=float(rng.uniform(1, 30)))
        o = class_optima(pr)
        seq = [o[c].risk for c in ("linear", "geometric", "scalar", "unconstrained")]
        worst = max(worst, max((b - a) / pr.null_risk for a, b in zip(seq, seq[1:])))
        worst = max(worst, abs(o["vector"].risk - o["unconstrained"].risk) / pr.null_risk)
        strict += seq[0] > seq[-1] + 1e-9
    return Evidence(worst < 1e-9, f"{count} problems: largest violation {worst:.1e} (normalised); linear strictly "
                    f"worse than unconstrained in {strict}", {"violation": float(worst)})


@register(
    "gating.vector_width",
    claim="vector gating with 2d key channels realises any ω* exactly; 2d − 1 channels cannot reach a non-monotone ω*",
    method="numeric (torch construction + class optimum)",
    group=GROUP,
)
def _vector_width(quick: bool) -> Evidence:
    rng = np.random.default_rng(46)
    msgs, ok = [], True
    rev = _experiment([0.8, 0.2])
    opt = class_optimum(rev, "unconstrained")
    at = {m: class_optimum(rev, "vector", key_width=m).normalized_risk for m in (7, 9, 10)}
    ok &= abs(at[10] - opt.normalized_risk) < 1e-10 and at[9] > opt.normalized_risk + 1e-4
    msgs.append(f"reversed d=5: width 7 → {at[7]:.6f}, 9 → {at[9]:.6f}, 10 → {at[10]:.6f} (optimum "
                f"{opt.normalized_risk:.6f})")
    torch = _torch()
    if torch is None:
        return Evidence(bool(ok), "; ".join(msgs) + "; torch part skipped")
    problems = [(rev, opt)]
    for _ in range(1 if quick else 4):
        pr = random_problem(rng, 3, segments=[3, 4, 2, 5])
        problems.append((pr, class_optimum(pr, "unconstrained")))
    worst = 0.0
    for pr, o in problems:
        w = np.asarray(o.details["segment_weights"])
        X = rng.standard_normal((3, pr.n, pr.d))
        y, x = rng.standard_normal((3, pr.n)), rng.standard_normal((3, pr.d))
        z, _ = segment_tokens(X, y, x, pr.segment_sizes)
        groups = vector_segment_groups(o.P, w)
        out = _model_predict(torch, pr.d, z, [groups], "vector")
        worst = max(worst, _rel(out, wpgd_predict(X, y, x, o.P, o.omega)))
        ok &= len(groups) * pr.d == 2 * pr.d
    ok &= worst < 1e-10
    msgs.append(f"torch with 2d channels realises ω* on {len(problems)} problems, max err {worst:.1e}")
    return Evidence(bool(ok), "; ".join(msgs), {"max_rel_err": worst, "widths": at})
