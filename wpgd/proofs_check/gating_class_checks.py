"""Checks of the weight classes and the GLA kernels (docs/gating.md §8), split from gating_checks.

* ``gating.class_ordering``: linear ≥ geometric ≥ scalar ≥ unconstrained on random problems.
* ``gating.vector_width``: 2d key channels realise ω* exactly (torch); the width-(2d − 1) class
  (docs/theory.md (2.4)) does not reach a non-monotone ω*. That class *encodes* the lower bound of
  2·rank P channels (proved on paper, docs/gating.md §4), so this half checks the class's
  evaluation, not the bound itself (docs/theory.md §2.5, caveat (c)).
* ``gating.kernels_agree``: the recurrent, parallel, chunked and query-only GLA kernels agree,
  value and gradients, kernel by kernel (torch, float64).

Torch parts that cannot run report SKIP (see :func:`wpgd.proofs_check.gating_checks._partial`); each
pass criterion is one ``_criterion_*`` function shared with the check's negative control.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.classes import class_optima, class_optimum
from wpgd.numerics.core.predictor import wpgd_predict
from wpgd.numerics.core.vocabulary import CLASSES
from wpgd.numerics.nn.construct import segment_tokens, vector_segment_groups

from . import gating_checks as g
from .random_problems import random_problem
from .registry import Evidence, any_passed, register

__all__: list[str] = []

_CHAIN = tuple(c for c in CLASSES if c != "vector")
"""The fixed-width classes nested by inclusion (linear ⊂ geometric ⊂ scalar ⊂ unconstrained): their
optimal risks must not increase along it (the vector class depends on its key width)."""

_TOL_ORDER = 1e-9


def _criterion_ordering(worst: float, strict: int, count: int) -> Evidence:
    return Evidence(worst < _TOL_ORDER, f"{count} problems: largest violation {worst:.1e} (normalised, tol "
                    f"{_TOL_ORDER:.0e}); linear strictly worse than unconstrained in {strict}",
                    {"violation": float(worst)})


def _ordering_measure(quick: bool, optima=class_optima, count: int | None = None) -> tuple[float, int, int]:
    rng = np.random.default_rng(45)
    count = count or (5 if quick else 25)
    worst, strict = -np.inf, 0
    for i in range(count):
        d = int(rng.integers(1, 5))
        if i % 3 == 2:
            pr = random_problem(rng, d, n=int(rng.integers(2, 8)), condition=float(rng.uniform(1, 30)))
        else:
            pr = random_problem(rng, d, segments=[int(s) for s in rng.integers(1, 10, size=int(rng.integers(2, 5)))],
                                condition=float(rng.uniform(1, 30)))
        o = optima(pr)
        seq = [o[c].risk for c in _CHAIN]
        worst = max(worst, max((b - a) / pr.null_risk for a, b in zip(seq, seq[1:])))
        worst = max(worst, abs(o["vector"].risk - o["unconstrained"].risk) / pr.null_risk)
        strict += seq[0] > seq[-1] + 1e-9
    return worst, strict, count


def _control_ordering(quick: bool) -> Evidence:
    from dataclasses import replace

    def scalar_above_geometric(pr):  # a scalar optimiser that stops 1e-8 (normalised) above the geometric one
        o = class_optima(pr)
        o["scalar"] = replace(o["scalar"], risk=o["geometric"].risk + 1e-8 * pr.null_risk)
        return o

    def vector_short(pr):  # vector gating at width 2d − 1 reported as the 2d class
        o = class_optima(pr)
        o["vector"] = class_optimum(pr, "vector", key_width=max(1, 2 * pr.d - 1))
        return o

    return any_passed(_criterion_ordering(*_ordering_measure(True, scalar_above_geometric, count=2)),
                      _criterion_ordering(*_ordering_measure(True, vector_short, count=2)))


@register(
    "gating.class_ordering",
    claim="optimal risks: linear ≥ geometric ≥ scalar ≥ unconstrained (and vector at width 2d = unconstrained)",
    method="numeric (random problems)",
    group=g.GROUP,
    control=_control_ordering,
)
def _class_ordering(quick: bool) -> Evidence:
    return _criterion_ordering(*_ordering_measure(quick))


_TOL_WIDTH = 1e-10


def _criterion_width(m: dict) -> Evidence:
    at, opt = m["at"], m["opt"]
    ok = abs(at[10] - opt) < _TOL_WIDTH and at[9] > opt + 1e-4
    msgs = [f"reversed d=5: width 7 → {at[7]:.6f}, 9 → {at[9]:.6f}, 10 → {at[10]:.6f} (optimum {opt:.6f}, tol "
            f"{_TOL_WIDTH:.0e})"]
    if m.get("torch_err") is None:
        return g._partial(bool(ok), "; ".join(msgs), {"widths": at})
    ok &= m["torch_err"] < _TOL_WIDTH and m["channels_ok"]
    msgs.append(f"torch with 2d channels realises ω* on {m['problems']} problems, max err {m['torch_err']:.1e}")
    return Evidence(bool(ok), "; ".join(msgs), {"max_rel_err": m["torch_err"], "widths": at})


def _width_measure(quick: bool, vector_risk=None, groups_of=vector_segment_groups) -> dict:
    if vector_risk is None:
        vector_risk = lambda pr, m: class_optimum(pr, "vector", key_width=m).normalized_risk  # noqa: E731
    rng = np.random.default_rng(46)
    rev = g._experiment([0.8, 0.2])
    opt = class_optimum(rev, "unconstrained")
    out = {"at": {m: vector_risk(rev, m) for m in (7, 9, 10)}, "opt": opt.normalized_risk}
    torch = g._torch()
    if torch is None:
        return out
    problems = [(rev, opt)]
    for _ in range(1 if quick else 4):
        pr = random_problem(rng, 3, segments=[3, 4, 2, 5])
        problems.append((pr, class_optimum(pr, "unconstrained")))
    worst, channels_ok = 0.0, True
    for pr, o in problems:
        w = np.asarray(o.details["segment_weights"])
        X = rng.standard_normal((3, pr.n, pr.d))
        y, x = rng.standard_normal((3, pr.n)), rng.standard_normal((3, pr.d))
        z, _ = segment_tokens(X, y, x, pr.segment_sizes)
        groups = groups_of(o.P, w)
        out_ = g._model_predict(torch, pr.d, z, [groups], "vector")
        worst = max(worst, g._max_rel(out_, wpgd_predict(X, y, x, o.P, o.omega)))
        channels_ok &= len(groups) * pr.d == 2 * pr.d
    out.update(torch_err=worst, channels_ok=bool(channels_ok), problems=len(problems))
    return out


def _control_width(quick: bool) -> Evidence:
    true = lambda pr, m: class_optimum(pr, "vector", key_width=m).normalized_risk  # noqa: E731

    def near(pr, m):  # width 2d reported 1e-9 above the optimum: 10× the tolerance
        return true(pr, m) + (1e-9 if m == 10 else 0.0)

    def width_9_reaches(pr, m):  # 2d − 1 channels claimed to reach the optimum
        return true(pr, 10 if m == 9 else m)

    controls = [_criterion_width(_width_measure(True, vector_risk=near)),
                _criterion_width(_width_measure(True, vector_risk=width_9_reaches))]
    if g._torch() is not None:
        def monotone_part_only(P, w):  # drop the second (decreasing) channel group
            return vector_segment_groups(P, w)[:1] * 2

        controls.append(_criterion_width(_width_measure(True, groups_of=monotone_part_only)))
    return any_passed(*controls)


@register(
    "gating.vector_width",
    claim="vector gating with 2d key channels realises any ω* exactly; the width-(2d − 1) class (2.4), which "
          "encodes the paper-proved 2·rank P bound, does not reach a non-monotone ω*",
    method="numeric (torch construction + class optimum)",
    group=g.GROUP,
    control=_control_width,
)
def _vector_width(quick: bool) -> Evidence:
    return _criterion_width(_width_measure(quick))


_TOL_KERNEL = 1e-12


def _criterion_kernels(errs: dict) -> Evidence:
    worst = max(errs.values())
    listed = ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
    return Evidence(worst <= _TOL_KERNEL, f"max relative RMS difference vs the recurrent kernel (value and gradients "
                    f"w.r.t. q, k, v, log g): {listed} (tol {_TOL_KERNEL:.0e})", {"errors": errs})


def _kernel_errors(quick: bool, torch, kernels: dict) -> dict:
    """Each kernel vs :func:`wpgd.numerics.nn.gla.naive_recurrent_gla`: output and the gradients of ⟨o, W⟩."""
    from wpgd.numerics.nn.gla import naive_recurrent_gla, relative_rms

    gen = torch.Generator().manual_seed(47)
    errs = {name: 0.0 for name in kernels}
    shapes = [(2, 7, 2, 3, 4), (1, 13, 1, 5, 2)] if quick else [(2, 7, 2, 3, 4), (1, 13, 1, 5, 2), (3, 32, 2, 4, 3)]
    for b, t, h, k, v in shapes:
        for width in (1, k):  # scalar and vector gating
            q, kk, vv = (torch.randn(b, t, h, n, generator=gen, dtype=torch.float64) for n in (k, k, v))
            lg = -torch.rand(b, t, h, width, generator=gen, dtype=torch.float64) * 3.0
            wts = torch.randn(b, t, h, v, generator=gen, dtype=torch.float64)

            def run(fn, last_only=False):
                ins = [x.clone().requires_grad_(True) for x in (q, kk, vv, lg)]
                o = fn(*ins)
                if o.dim() == 4 and last_only:
                    o = o[:, -1]
                target = (o * (wts if o.dim() == 4 else wts[:, -1])).sum()
                return o, torch.autograd.grad(target, ins)

            refs = {False: run(naive_recurrent_gla), True: run(naive_recurrent_gla, last_only=True)}
            for name, fn in kernels.items():
                o, g = run(fn)
                o_ref, g_ref = refs[o.dim() == 3]
                e = [relative_rms(o, o_ref)] + [relative_rms(gi, gr) for gi, gr in zip(g, g_ref)]
                errs[name] = max(errs[name], max(e))
    return errs


def _gla_kernels(torch) -> dict:
    from wpgd.numerics.nn.gla import chunked_gla, last_query_gla, parallel_gla

    return {
        "parallel": parallel_gla,
        "chunked(1)": lambda q, k, v, g: chunked_gla(q, k, v, g, chunk=1),
        "chunked(4)": lambda q, k, v, g: chunked_gla(q, k, v, g, chunk=4),
        "chunked(5)": lambda q, k, v, g: chunked_gla(q, k, v, g, chunk=5),
        "query-only": lambda q, k, v, g: last_query_gla(q[:, -1], k, v, g),
    }


def _control_kernels(quick: bool) -> Evidence:
    torch = g._torch()
    if torch is None:
        return g._skip("the control of the kernel comparison")
    from wpgd.numerics.nn.gla import chunked_gla, parallel_gla

    def shifted(q, k, v, g):  # the gate of token t applied from token t + 1 on (off by one)
        return parallel_gla(q, k, v, torch.cat([torch.zeros_like(g[:, :1]), g[:, :-1]], dim=1))

    def near(q, k, v, g):  # log-gates off by 1e-11 relative: the output moves by about 1e-11
        return chunked_gla(q, k, v, g * (1 + 1e-11), chunk=4)

    return any_passed(_criterion_kernels(_kernel_errors(True, torch, {"parallel, shifted gates": shifted})),
                      _criterion_kernels(_kernel_errors(True, torch, {"chunked, log g ×(1 + 1e-11)": near})))


@register(
    "gating.kernels_agree",
    claim="recurrent, parallel, chunked (chunk 1, 4, 5) and query-only GLA kernels agree: value and gradients",
    method="numeric (torch float64, autograd)",
    group=g.GROUP,
    control=_control_kernels,
)
def _kernels_agree(quick: bool) -> Evidence:
    torch = g._torch()
    if torch is None:
        return g._skip("the GLA kernels")
    return _criterion_kernels(_kernel_errors(quick, torch, _gla_kernels(torch)))
