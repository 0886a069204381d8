"""Regression-test your own derivation: is a claimed risk the risk of your predictor?

Give a data model (:class:`~wpgd.proofs_check.derivation_model.PromptModel`), a predictor
(:class:`~wpgd.proofs_check.derivation_model.Predictor`, e.g. :func:`wpgd_predictor`) and a
claimed risk ``E[(ŷ − y_q)²]``; :func:`check_derivation` decides, in three legs:

1. **Exact** (decisive). At each explicit size ``(d, n)`` the risk is derived by the Wick
   engine (:mod:`wpgd.theory.expectation`, the one that derives the project's risk) as a
   polynomial in the parameter symbols, and ``derived − claimed`` is expanded in a
   polynomial ring: the claim holds at that size iff the difference is exactly 0. If not,
   a Hypothesis search over valid instances (drawn by :mod:`wpgd.proofs_check.strategies`) finds
   a concrete counterexample, shrunk, with both values.
2. **Numeric**. At random valid instances (Hypothesis, the active settings profile) the
   compiled claim and the compiled derivation agree to a relative 1e-8. This leg is the
   decisive one only when the claim is a Python callable that cannot take SymPy matrices.
3. **Monte Carlo** (independent). Prompts are sampled by the model's NumPy sampler (written
   from the model's description, not from the symbolic covariances), the predictor is
   evaluated, and the mean squared error is compared with the claim by its z-score. The
   bound is two-sided with a family-wise false-alarm rate ``alpha`` (default 1e-3,
   Bonferroni over all m comparisons): ``|z| ≤ Φ⁻¹(1 − alpha/(2m))``, with the z-score
   skewness-corrected (:func:`skew_corrected_z`: squared errors are strongly right-skewed,
   which biases a plain z-score). It catches modelling mistakes that the exact leg cannot
   see, e.g. a variant whose symbolic labels differ from how its data are sampled.

A claimed risk is either a **callable** ``claimed(p)`` of the namespace ``p`` (model
quantities ``p.Sigma, p.Rbar, p.R, p.D_R, p.r, p.r_q, p.noise, p.D_noise, p.sigma2_q, …``
and the predictor's parameters ``p.P, p.omega, …``; column vectors are n×1) written with
``@``, ``.T``, :func:`tr`, :func:`quad`, :func:`dot` so that it works on SymPy matrices and
on NumPy arrays alike; or a **SymPy expression** in symbols / ``MatrixSymbol`` s named like
those fields (:func:`claim_symbols` provides them, sizes symbolic: e.g. the project's
``wpgd.theory.trace_form_risk()[0]``), substituted at each size by name.

>>> from wpgd.proofs_check.derivations import PromptModel, wpgd_predictor, check_derivation, tr, quad, dot
>>> def claimed(p):     # the project's risk (docs/risk.md)
...     S = p.Sigma
...     m1 = p.R + p.D_R
...     m2 = tr(S) * p.D_R + p.D_noise
...     return (p.r_q * tr(S) + p.sigma2_q - 2 * tr(p.P @ S @ S) * dot(p.r, p.omega)
...             + tr(p.P.T @ S @ p.P @ S @ S) * quad(p.omega, m1, p.omega)
...             + tr(p.P.T @ S @ p.P @ S) * quad(p.omega, m2, p.omega))
>>> report = check_derivation(PromptModel(), wpgd_predictor(), claimed, sizes=[(1, 1), (2, 1)], mc=0)
>>> report.holds, [s.exact for s in report.sizes]
(True, [True, True])

In a test suite, :func:`assert_derivation` raises ``AssertionError`` with the
counterexample; :func:`instances` is the Hypothesis strategy of valid instances for your own
``@given`` tests (``Derivation.derived_value`` / ``claimed_value`` evaluate at one).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from statistics import NormalDist

import numpy as np
import sympy as sp

from .derivation_model import (
    DerivationInputError,
    Predictor,
    PromptModel,
    _wpgd,
    hadamard,
    segment_split,
    with_bias,
    wpgd_predictor,
)
from .derivation_report import (
    NUMERIC_RTOL,
    Counterexample,
    DerivationReport,
    Instance,
    MonteCarloCheck,
    SizeResult,
)
from .derivation_search import instances, search
from .derivation_sized import SizedDerivation, claim_symbols, dot, quad, skew_corrected_z, tr

__all__ = [
    "Counterexample",
    "Derivation",
    "DerivationInputError",
    "DerivationReport",
    "Instance",
    "MonteCarloCheck",
    "Predictor",
    "PromptModel",
    "SizeResult",
    "assert_derivation",
    "check_derivation",
    "claim_symbols",
    "derive_risk",
    "dot",
    "hadamard",
    "instances",
    "quad",
    "segment_split",
    "skew_corrected_z",
    "tr",
    "with_bias",
    "wpgd_predictor",
]


# ------------------------------------------------------------------ the checker
class Derivation:
    """A data model, a predictor and a claimed risk, checked by :meth:`check`.

    Args:
        model: the data model.
        predictor: the predictor.
        claimed: the claimed risk (callable of the namespace, or a SymPy expression).
    """

    def __init__(self, model: PromptModel, predictor: Predictor, claimed) -> None:
        if not isinstance(model, PromptModel):
            raise DerivationInputError(f"model must be a PromptModel, got {type(model).__name__}")
        if not isinstance(predictor, Predictor):
            raise DerivationInputError(f"predictor must be a Predictor, got {type(predictor).__name__}")
        if isinstance(claimed, (int, float)) and not isinstance(claimed, bool):
            claimed = sp.nsimplify(claimed, rational=True)
        if not (callable(claimed) or isinstance(claimed, sp.Basic)):
            raise DerivationInputError(
                f"claimed risk must be a SymPy expression or a callable, got {type(claimed).__name__}"
            )
        self.model, self.predictor, self.claimed = model, predictor, claimed
        self._sized: dict[tuple[int, int], SizedDerivation] = {}

    def at(self, d: int, n: int) -> SizedDerivation:
        """The derivation at sizes (d, n) (cached)."""
        key = (int(d), int(n))
        if key not in self._sized:
            self._sized[key] = SizedDerivation(self, *key)
        return self._sized[key]

    def default_sizes(self) -> list[tuple[int, int]]:
        """(1, n0) and (2, max(2, n0)) with n0 the smallest valid n."""
        n0 = self.model.min_n()
        return [(1, n0), (2, max(2, n0))]

    def derived_value(self, inst: Instance) -> float:
        """The derived risk at an instance (float64 evaluation of the exact polynomial)."""
        return float(self.at(inst.d, inst.n).derived_fn(*self.at(inst.d, inst.n).args(inst)))

    def claimed_value(self, inst: Instance) -> float:
        """The claimed risk at an instance."""
        return self.at(inst.d, inst.n).claim_fn(inst)

    def monte_carlo(self, inst: Instance, samples: int, seed: int = 0) -> tuple[float, float, float]:
        """(mean, standard error, third central moment) of ``(ŷ − y_q)²`` over sampled prompts."""
        return self.at(inst.d, inst.n).monte_carlo(inst, samples, seed)

    def _mismatch(self, inst: Instance) -> float:
        a, b = self.derived_value(inst), self.claimed_value(inst)
        if not np.isfinite(b):
            return np.inf
        return abs(a - b) / max(1.0, abs(a), abs(b))

    def _independent(self, inst: Instance, mc: int, seed: int) -> dict:
        out = {}
        base = (self.predictor.fn is _wpgd and not self.model.label_mean
                and self.model.noise in ("shared", "none"))
        if base:
            from wpgd.numerics import Problem, risk

            ns = self.at(inst.d, inst.n).numeric_ns(inst)
            try:
                pr = Problem.dense(ns["Sigma"], ns["Rbar"], float(ns["sigma2_q"]))
                out["wpgd.numerics.core.risk"] = f"{risk(pr, ns['P'], ns['omega'].ravel()):.12g}   (closed form, numerics)"
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                out["wpgd.numerics.core.risk"] = f"not evaluated ({exc})"
        if mc:
            mean, se, _ = self.monte_carlo(inst, mc, seed)
            out["monte carlo "] = f"{mean:.6g} ± {se:.3g} (SE, {mc} prompts, seed {seed})"
        return out

    def check(
        self,
        sizes: Iterable[tuple[int, int]] | None = None,
        mc: int = 20_000,
        mc_instances: int = 2,
        seed: int | None = 0,
        alpha: float = 1e-3,
    ) -> DerivationReport:
        """Run the three legs; see :func:`check_derivation`."""
        t0 = time.perf_counter()
        sizes = [tuple(map(int, s)) for s in (sizes or self.default_sizes())]
        if not sizes:
            raise DerivationInputError("no sizes to check")
        if mc < 0 or mc == 1 or mc_instances < 0:
            raise DerivationInputError("mc must be 0 or ≥ 2 samples and mc_instances ≥ 0")
        if not 0 < alpha < 1:
            raise DerivationInputError(f"alpha must be in (0, 1), got {alpha}")
        mc_seed = 0 if seed is None else int(seed)
        reasons: list[str] = []
        results: list[SizeResult] = []
        counter: Counterexample | None = None
        for d, n in sizes:
            sized = self.at(d, n)
            t1 = time.perf_counter()
            diff = sized.exact_difference()
            secs = time.perf_counter() - t1
            if diff is None:
                results.append(SizeResult(d, n, None, secs, note=sized.claim[1]))
                continue
            ok = diff == 0
            text = "" if ok else _short(diff)
            results.append(SizeResult(d, n, ok, secs, text))
            if not ok:
                reasons.append(f"claimed − derived ≠ 0 at d={d}, n={n}")
                if counter is None:
                    counter = self._counterexample(d, n, mc, mc_seed, seed)
        examples, worst = 0, 0.0
        mc_checks: list[MonteCarloCheck] = []
        m_total = len(sizes) * mc_instances if mc else 0
        z_bound = NormalDist().inv_cdf(1 - alpha / (2 * max(m_total, 1)))
        for d, n in sizes:
            seen: list[Instance] = []
            refuted_here = any(r.d == d and r.n == n and r.exact is False for r in results)
            # Where the exact leg already refuted the claim, only collect instances (no shrinking).
            bad = search(instances(self.model, self.predictor, d, n),
                          (lambda inst: False) if refuted_here else
                          (lambda inst: self._mismatch(inst) > NUMERIC_RTOL), seed, seen)
            examples += len(seen)
            worst = max([worst] + [self._mismatch(i) for i in seen[:50]])
            if bad is not None:
                reasons.append(f"claimed ≠ derived numerically at d={d}, n={n}")
                if counter is None:
                    counter = Counterexample(bad, self.at(d, n).derived_exact_value(bad), self.claimed_value(bad),
                                             self._independent(bad, mc, mc_seed))
            if mc:
                for k, inst in enumerate(_informative(seen, self.predictor, mc_instances)):
                    mean, se, mu3 = self.monte_carlo(inst, mc, mc_seed + k)
                    der, cla = self.derived_value(inst), self.claimed_value(inst)
                    z_c, z_d = skew_corrected_z(mean, se, mu3, mc, cla), skew_corrected_z(mean, se, mu3, mc, der)
                    mc_checks.append(MonteCarloCheck(inst, mean, se, mc, der, cla, z_c, z_d))
                    if abs(z_c) > z_bound and counter is None:
                        counter = Counterexample(inst, der, cla, {
                            "monte carlo ": f"{mean:.6g} ± {se:.3g} (SE, {mc} prompts, z vs claim {z_c:+.2f})"})
        bad_c = [m for m in mc_checks if abs(m.z_claimed) > z_bound]
        bad_d = [m for m in mc_checks if abs(m.z_derived) > z_bound]
        if bad_c:
            worst_z = max(bad_c, key=lambda m: abs(m.z_claimed)).z_claimed
            reasons.append(f"Monte Carlo of the predictor disagrees with the claim at {len(bad_c)} of "
                           f"{len(mc_checks)} instances (worst z = {worst_z:+.2f})")
        if bad_d:
            reasons.append(f"Monte Carlo disagrees with the derivation at {len(bad_d)} of {len(mc_checks)} "
                           "instances: the model's sampler and its symbolic description differ (a modelling "
                           "mistake in the data model, invisible to the exact leg)")
        return DerivationReport(
            model=self.model.describe(), predictor=self.predictor.name, sizes=results, numeric_examples=examples,
            numeric_max_rel_error=worst, monte_carlo=mc_checks, z_bound=z_bound if mc else float("nan"),
            alpha=alpha, counterexample=counter, reasons=reasons, seconds=time.perf_counter() - t0,
        )

    def _counterexample(self, d: int, n: int, mc: int, mc_seed: int, seed: int | None) -> Counterexample | None:
        inst = search(instances(self.model, self.predictor, d, n),
                       lambda i: self._mismatch(i) > NUMERIC_RTOL, seed)
        if inst is None:
            return None
        sized = self.at(d, n)
        return Counterexample(inst, sized.derived_exact_value(inst), self.claimed_value(inst),
                              self._independent(inst, mc, mc_seed))


def _informative(seen: list[Instance], predictor: Predictor, k: int) -> list[Instance]:
    """The k drawn instances with the largest predictor parameters (a zero P/ω tests little)."""
    def size(inst):
        return sum(float(np.sum(np.abs(inst.values[p]))) for p in predictor.parameters)

    distinct = {}
    for inst in seen:
        key = tuple(np.asarray(v, dtype=np.float64).tobytes() for v in inst.values.values())
        distinct.setdefault(key, inst)
    return sorted(distinct.values(), key=size, reverse=True)[:k]


def _short(expr: sp.Expr, limit: int = 300) -> str:
    s = str(expr)
    return s if len(s) <= limit else s[:limit] + " …"


def derive_risk(model: PromptModel, predictor: Predictor, d: int, n: int) -> tuple[sp.Expr, dict]:
    """The exact risk ``E[(ŷ − y_q)²]`` at sizes (d, n), derived by the Wick engine.

    Returns:
        ``(L, namespace)``: ``L`` an expanded polynomial in the parameter symbols, and the
        symbolic namespace (model quantities and predictor parameters by name, as SymPy
        matrices and symbols) to read it with, e.g. ``sp.diff(L, ns["sigma2_q"])``.
    """
    sized = Derivation(model, predictor, sp.Integer(0)).at(d, n)
    return sized.derived, {**sized.m.ns, **sized.pparams}


def check_derivation(
    model: PromptModel,
    predictor: Predictor,
    claimed,
    sizes: Iterable[tuple[int, int]] | None = None,
    mc: int = 20_000,
    mc_instances: int = 2,
    seed: int | None = 0,
    alpha: float = 1e-3,
) -> DerivationReport:
    """Check a claimed risk against the derived one (exact), numerically, and by Monte Carlo.

    Args:
        model: the data model (:class:`PromptModel`).
        predictor: the predictor (:class:`Predictor`).
        claimed: claimed ``E[(ŷ − y_q)²]``: a callable of the namespace or a SymPy expression.
        sizes: explicit sizes ``[(d, n), …]`` for the exact leg; default
            :meth:`Derivation.default_sizes`.
        mc: Monte Carlo prompts per instance (0 switches the leg off).
        mc_instances: instances per size for Monte Carlo.
        seed: seed of the Hypothesis search (ignored under a derandomised settings profile)
            and of the Monte Carlo sampler.
        alpha: family-wise false-alarm rate of the Monte Carlo bound.

    Returns:
        A :class:`DerivationReport`; ``report.holds`` is the verdict.

    Raises:
        DerivationInputError: invalid model, predictor, claim or sizes.
    """
    return Derivation(model, predictor, claimed).check(sizes, mc, mc_instances, seed, alpha)


def assert_derivation(model: PromptModel, predictor: Predictor, claimed, **kwargs) -> DerivationReport:
    """:func:`check_derivation`, raising ``AssertionError`` (with the report) if refuted.

    Use it in a plain test function (not inside a ``@given`` test: it runs Hypothesis itself).
    """
    report = check_derivation(model, predictor, claimed, **kwargs)
    if not report.holds:
        raise AssertionError("claimed risk refuted\n" + report.summary())
    return report
