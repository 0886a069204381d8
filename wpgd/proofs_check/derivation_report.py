"""Result objects of the derivation checker (:mod:`wpgd.proofs_check.derivations`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["NUMERIC_RTOL", "Instance", "SizeResult", "MonteCarloCheck", "Counterexample", "DerivationReport"]

NUMERIC_RTOL = 1e-8
"""Relative tolerance of the numeric leg (compiled claim vs compiled derivation, float64)."""


@dataclass(frozen=True)
class Instance:
    """Numbers for every free parameter of a model and predictor at sizes (d, n).

    Attributes:
        d, n: sizes.
        values: name → float or array (model parameters such as ``Sigma``, ``Rbar`` or
            ``C, c, r_q``, noise variances, ``mu``; predictor parameters such as ``P``,
            ``omega`` (n×1), ``b``).
    """

    d: int
    n: int
    values: Mapping[str, object]

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return {"d": self.d, "n": self.n, "values": {k: np.asarray(v).tolist() for k, v in self.values.items()}}

    def describe(self) -> list[str]:
        """One line per parameter, numbers to 6 significant digits."""
        lines = []
        for k, v in self.values.items():
            a = np.asarray(v, dtype=np.float64)
            txt = f"{float(a):.6g}" if a.ndim == 0 else np.array2string(
                a.squeeze(-1) if a.ndim == 2 and a.shape[1] == 1 else a, precision=6, separator=", ",
                max_line_width=10**6, floatmode="maxprec").replace("\n", "")
            lines.append(f"{k} = {txt}")
        return lines


@dataclass(frozen=True)
class SizeResult:
    """The exact leg at one size: ``exact`` True (identity), False (refuted), None (n/a)."""

    d: int
    n: int
    exact: bool | None
    seconds: float
    difference: str = ""
    note: str = ""


@dataclass(frozen=True)
class MonteCarloCheck:
    """Monte Carlo of the predictor at one instance, against the claim and the derivation."""

    instance: Instance
    mean: float
    stderr: float
    samples: int
    derived: float
    claimed: float
    z_claimed: float
    z_derived: float


@dataclass(frozen=True)
class Counterexample:
    """An instance where the claim and the derivation disagree, with both values.

    Attributes:
        instance: the numbers.
        derived: the derived risk there (evaluated exactly in rationals).
        claimed: the claimed value.
        independent: further evaluations that do not use the engine (``wpgd.numerics.core.risk`` where
            the model is the project's base model and the predictor is WPGD; Monte Carlo
            mean/stderr where requested).
    """

    instance: Instance
    derived: float
    claimed: float
    independent: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"instance": self.instance.to_dict(), "derived": self.derived, "claimed": self.claimed,
                "independent": self.independent}


@dataclass
class DerivationReport:
    """Everything :func:`check_derivation` saw; ``holds`` is the verdict."""

    model: str
    predictor: str
    sizes: list[SizeResult]
    numeric_examples: int
    numeric_max_rel_error: float
    monte_carlo: list[MonteCarloCheck]
    z_bound: float
    alpha: float
    counterexample: Counterexample | None
    reasons: list[str]
    seconds: float

    @property
    def holds(self) -> bool:
        """True iff no leg refuted the claim."""
        return not self.reasons

    def summary(self) -> str:
        """Human-readable report (several lines)."""
        out = [f"model       {self.model}", f"predictor   {self.predictor}"]
        for s in self.sizes:
            verdict = {True: "identity (difference expands to 0)", False: "REFUTED (difference ≠ 0)",
                       None: "not available"}[s.exact]
            extra = f"; {s.note}" if s.note else ""
            out.append(f"exact       d={s.d}, n={s.n}: {verdict} ({s.seconds:.1f} s){extra}")
        out.append(f"numeric     {self.numeric_examples} Hypothesis instances, max relative |claimed − derived| = "
                   f"{self.numeric_max_rel_error:.3g} (tolerance {NUMERIC_RTOL:g})")
        for m in self.monte_carlo:
            out.append(f"monte carlo d={m.instance.d}, n={m.instance.n}: {m.mean:.6g} ± {m.stderr:.3g} (SE, "
                       f"{m.samples} prompts); claimed {m.claimed:.6g} (z = {m.z_claimed:+.2f}), derived "
                       f"{m.derived:.6g} (z = {m.z_derived:+.2f})")
        if self.monte_carlo:
            out.append(f"            bound |z| ≤ {self.z_bound:.2f} (family-wise false-alarm rate {self.alpha:g})")
        if self.holds:
            out.append("verdict     HOLDS")
        else:
            out.append("verdict     REFUTED: " + "; ".join(self.reasons))
        if self.counterexample is not None:
            c = self.counterexample
            out.append(f"counterexample (d={c.instance.d}, n={c.instance.n}):")
            out.extend("  " + ln for ln in c.instance.describe())
            out.append(f"  derived risk  {c.derived:.12g}")
            out.append(f"  claimed risk  {c.claimed:.12g}")
            for k, v in c.independent.items():
                out.append(f"  {k}  {v}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return {
            "holds": self.holds, "model": self.model, "predictor": self.predictor,
            "sizes": [vars(s) for s in self.sizes],
            "numeric": {"examples": self.numeric_examples, "max_rel_error": self.numeric_max_rel_error,
                        "rtol": NUMERIC_RTOL},
            "monte_carlo": [{"instance": m.instance.to_dict(), "mean": m.mean, "stderr": m.stderr,
                             "samples": m.samples, "derived": m.derived, "claimed": m.claimed,
                             "z_claimed": m.z_claimed, "z_derived": m.z_derived} for m in self.monte_carlo],
            "z_bound": self.z_bound, "alpha": self.alpha,
            "counterexample": None if self.counterexample is None else self.counterexample.to_dict(),
            "reasons": self.reasons, "seconds": self.seconds,
        }


