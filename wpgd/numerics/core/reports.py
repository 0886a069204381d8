"""The reports of :mod:`wpgd.numerics.core.api`: what ``wpgd solve`` and ``wpgd risk`` answer, as objects.

Each follows :mod:`wpgd.numerics.core.results`: ``status``, ``converged``, ``message``,
``to_dict(arrays=False)`` (exactly what ``--json`` prints) and ``summary()`` (exactly the text the
command prints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.vocabulary import GDPP_STEPS_CLASSES

__all__ = ["RiskReport", "SolveReport"]


def _problem_line(problem: Problem) -> str:
    pr = problem.describe()
    segs = (
        f" (segments {pr['segments']})" if pr.get("form") == "segments" and len(pr["segments"]) <= 12 else ""
    )
    return (f"problem          d = {pr['d']}, n = {pr['n']}{segs}, tr Σ = {pr['trace_sigma']:.6g}, "
            f"σ² = {pr['noise']:.6g}")


@dataclass(frozen=True, repr=False)
class SolveReport(Result):
    """The answer of :func:`wpgd.numerics.core.api.solve_problem` (result conventions: :mod:`wpgd.numerics.core.results`).

    Attributes:
        problem: the problem solved.
        cls: the class asked for (one of :data:`wpgd.numerics.core.vocabulary.SOLVE_CLASS_CHOICES`:
            a weight class, an atlas architecture, or "all").
        result: an :class:`~wpgd.numerics.core.solver.Optimum` (``cls="unconstrained"``), a
            :class:`~wpgd.numerics.core.classes.ClassOptimum`, a :class:`~wpgd.numerics.core.classes.ClassComparison`
            (``cls="all"``) or a :class:`~wpgd.numerics.nn.multistep.MultistepOptimum` (``steps > 1``).
        steps: L (1 = one layer).
        steps_class: for ``steps > 1``: "gdpp-rescale" or "gdpp" (the gated GD++ class with or
            without the label rescaling, ``result`` is the dict of
            :func:`wpgd.numerics.nn.gdpp_optimum.gdpp_optimum`) or "recursion" (the label-only recursion
            (6.1), a :class:`~wpgd.numerics.nn.multistep.MultistepOptimum`); None for one step.
        certificate: the uniqueness certificate (``certify=True``), or None.
        high_precision: the high-precision solve's values and the float64 errors, or None.
        stationary_points: every stationary point family (``stationary=True``).
        unconstrained: for ``cls="all"``, the report of the unconstrained solve.
        rescaled: at extreme scales, the high-precision, certificate and stationary-point parts
            computed on the problem rescaled to unit scale and mapped back
            (:func:`wpgd.numerics.core.units.map_units`), as ``to_dict`` entries; None otherwise.
    """

    problem: Problem
    cls: str
    result: Any
    steps: int = 1
    steps_class: str | None = None
    certificate: Any = None
    high_precision: dict | None = None
    stationary_points: tuple = ()
    unconstrained: SolveReport | None = None
    rescaled: dict | None = None

    @property
    def _gdpp(self) -> bool:
        return self.steps_class in GDPP_STEPS_CLASSES

    @property
    def status(self) -> str:
        if self.steps > 1:
            return "converged" if self.converged else "not_converged"
        return self.result.status

    @property
    def converged(self) -> bool:
        return bool(self.result["converged"] if self._gdpp else self.result.converged)

    @property
    def message(self) -> str:
        return str(self.result["message"] if self._gdpp else self.result.message)

    def __repr__(self) -> str:
        return (
            f"SolveReport(cls={self.cls!r}, steps={self.steps}, risk={self.risk:.6g}, "
            f"normalized_risk={self.normalized_risk:.6g}, status={self.status!r})"
        )

    @property
    def risk(self) -> float:
        """The optimal risk (for ``cls="all"``: the unconstrained one), raw units of y²."""
        if self._gdpp:
            return float(self.result["risk"])
        return float(self.result.optima["unconstrained"].risk if self.cls == "all" else self.result.risk)

    @property
    def normalized_risk(self) -> float:
        """risk / (r_q tr Σ + σ²)."""
        return self.risk / self.problem.null_risk

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``wpgd solve --out`` saves: P and ω (``<class>_P``, ``<class>_omega`` for
        ``cls="all"``; the layers' Q matrices for ``steps > 1``, and A, B for gated GD++)."""
        if self._gdpp:
            return {f"{m}{layer + 1}": np.asarray(prm[m]) for layer, prm in enumerate(self.result["params"])
                    for m in "QAB"}
        if self.steps > 1:
            return {f"Q{layer + 1}": np.asarray(Q) for layer, (Q, _) in enumerate(self.result.params)}
        if self.cls == "all":
            out = {}
            for c, o in self.result.optima.items():
                out[f"{c}_P"], out[f"{c}_omega"] = o.P, o.omega
            return out
        return {"P": self.result.P, "omega": self.result.omega}

    def to_dict(self, arrays: bool = False) -> dict:
        """What ``wpgd solve --json`` prints (and ``--out`` saves as summary.json)."""
        if self.cls == "all":
            every = self.result.to_dict(arrays=arrays)
            every["unconstrained_solve"] = self.unconstrained.to_dict(arrays=False)
            every["unconstrained_solve"].pop("problem")
            return every
        out: dict = {"problem": self.problem.describe(), "class": self.cls}
        if self._gdpp:
            out.update({"steps_class": self.steps_class, **self.result, "status": self.status})
            return json_clean(out)
        if self.steps > 1:
            out["steps"] = self.steps
            out["steps_class"] = "recursion"
            out.update(self.result.to_dict())
            out["status"] = self.status
            return json_clean(out)
        out.update(self.result.to_dict(arrays=arrays))
        if self.cls != "unconstrained":
            return out
        out["certified"] = None if self.certificate is None else bool(self.certificate.certified)
        if self.certificate is not None:
            cert = self.certificate.to_dict()
            cert.setdefault("backend", "mpmath")
            out["certificate"] = cert
        if self.high_precision is not None:
            out["high_precision"] = self.high_precision
        if self.stationary_points:
            out["stationary_points"] = [sp.to_dict() for sp in self.stationary_points]
        if self.rescaled is not None:
            out.update(self.rescaled)
        return json_clean(out)

    def summary(self) -> str:
        """What ``wpgd solve`` prints as text."""
        if self.cls == "all":
            return self.result.summary()
        lines = [_problem_line(self.problem)]
        if self.steps > 1:
            lines += _multistep_lines(self.result, self.cls, self.steps, self.steps_class)
            return "\n".join(lines)
        lines.append(self.result.summary())
        if self.cls != "unconstrained" or self.result.degenerate:
            return "\n".join(lines)
        opt = self.result
        lines.append(
            f"solver           {opt.method} path, {opt.iterations} evaluations, "
            f"{'converged' if opt.converged else 'NOT converged'}"
            + (f", {len(opt.unresolved)} unresolved cell(s)" if opt.unresolved else "")
        )
        extra = self.rescaled or {}
        hp = extra.get("high_precision", self.high_precision)
        if hp is not None:
            err = hp["float64_rel_error"]
            rad = f" ± {hp['balls']['risk']['rad']:.1e} (proven ball, Arb)" if "balls" in hp else ""
            lines.append(f"high precision   {hp['digits']} digits: risk = {str(hp['risk'])[:40]}{rad}")
            names = {"gamma": "γ", "omega": "ω", "mu": "μ"}
            lines.append(
                "float64 error    "
                + ", ".join(f"{names.get(k, k)} {v:.2e}" for k, v in err.items())
                + " (relative)"
            )
        cert = extra.get("certificate", None if self.certificate is None else self.certificate.to_dict())
        if cert is not None:
            lines.append(_certificate_line(cert))
        points = extra.get("stationary_points", [sp.to_dict() for sp in self.stationary_points])
        for sp in points:
            pos, neg, zero = sp["inertia"]
            where = f" γ = {float(sp['gamma']):.8g}" if sp.get("gamma") is not None else ""
            star = "  ← global minimum" if sp.get("global_min") else ""
            lines.append(
                f"stationary       {sp['kind']:<6} {sp['type']:<10} inertia n+={pos} n-={neg} n0={zero}"
                f" risk {float(sp['risk']):.8g}{where}{star}"
            )
        if "rescaled" in extra:
            lines.append(f"rescaled         exact parts computed at unit scale (by {', '.join(extra['rescaled']['by'])})"
                         " and mapped back exactly")
        return "\n".join(lines)


def _certificate_line(c: dict) -> str:
    how = f" ({c.get('backend', 'mpmath')})"
    if not c["certified"]:
        return f"certified        no{how}: {c['reason']}"
    a, b = c["enclosure"]
    bound = c.get("root_contraction", c["contraction_bound"])
    return (
        f"certified        yes{how}: exactly one fixed point, γ* ∈ [{a:.12g}, {b:.12g}], "
        f"contraction ≤ {bound:.4g}" + (" on its cell" if "root_contraction" in c else "")
    )


def _fmt(v) -> str:
    """A gate or coefficient, or a list of them (one per delimiter code)."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(f"{float(x):.4g}" for x in v) + "]"
    return f"{float(v):.4g}"


def _multistep_lines(res, cls: str, steps: int, steps_class: str | None) -> list[str]:
    if steps_class in GDPP_STEPS_CLASSES:
        r = res
        what = f"{steps}-step {r['class']}"
        layers = [{**prm["gates"], **({"rescale": prm["rescale"]} if "rescale" in prm else {})}
                  for prm in r["params"]]
    else:
        r = res.to_dict()
        what = f"{steps}-step causal WPGD recursion (labels only)"
        layers = [gates for _, gates in res.params]
    lo, hi = r["normalized_ci"]
    lines = [
        f"class            {cls}, {what}",
        f"risk             {r['risk']:.8g}   (fresh prompts; an upper-bound estimate of the optimum)",
        f"normalized risk  {r['normalized_risk']:.6f}  95% CI [{lo:.6f}, {hi:.6f}] "
        f"(±{r['rel_ci_halfwidth']:.2%}, {r['samples'][1]} prompts)",
        f"in-sample        {r['fit_normalized_risk']:.6f}   ({r['samples'][0]} fitting prompts)",
        f"one step         {r['one_layer_normalized_risk']:.6f}   (closed-form {cls} optimum)",
    ]
    for layer, gates in enumerate(layers, 1):
        desc = ", ".join(f"{k} {_fmt(v)}" for k, v in gates.items()) or "none (linear)"
        lines.append(f"layer {layer:<10} gates: {desc}")
    lines.append(
        f"fit              {'converged' if r['converged'] else 'NOT converged'}: {r['message']} "
        f"({r['seconds']:.1f} s)"
    )
    return lines


@dataclass(frozen=True, repr=False)
class RiskReport(Result):
    """The answer of :func:`wpgd.numerics.core.api.risk_report` (result conventions: :mod:`wpgd.numerics.core.results`).

    ``status`` is "converged" (the closed form is exact); with Monte Carlo, ``message`` gives its
    z-score against the closed form.

    Attributes:
        problem: the setting.
        risk: L(P, ω), raw units of y².
        normalized_risk: risk / null_risk.
        null_risk: r_q tr Σ + σ², the risk of predicting zero.
        monte_carlo: a :class:`~wpgd.numerics.core.montecarlo.MonteCarloResult`, or None.
    """

    problem: Problem
    risk: float
    normalized_risk: float
    null_risk: float
    monte_carlo: Any = None
    _mc_dict: dict = field(default_factory=dict, compare=False)

    status = "converged"
    converged = True

    @property
    def message(self) -> str:
        if self.monte_carlo is None:
            return "closed form"
        return f"closed form; Monte Carlo z-score {self._mc_dict['z_score']:+.3f}"

    def __repr__(self) -> str:
        return (
            f"RiskReport(d={self.problem.d}, n={self.problem.n}, risk={self.risk:.6g}, "
            f"normalized_risk={self.normalized_risk:.6g}, monte_carlo={self.monte_carlo is not None})"
        )

    def to_dict(self, arrays: bool = False) -> dict:
        """What ``wpgd risk --json`` prints (a risk report holds no arrays)."""
        out = {
            "problem": self.problem.describe(),
            "risk": self.risk,
            "normalized_risk": self.normalized_risk,
            "null_risk": self.null_risk,
        }
        if self.monte_carlo is not None:
            out["monte_carlo"] = self._mc_dict
        out.update(status=self.status, converged=self.converged, message=self.message)
        return json_clean(out)

    def summary(self) -> str:
        """What ``wpgd risk`` prints as text."""
        pr = self.problem.describe()
        lines = [
            f"problem          d = {pr['d']}, n = {pr['n']}, tr Σ = {pr['trace_sigma']:.6g}, "
            f"σ² = {pr['noise']:.6g}",
            f"risk             {self.risk:.10g}",
            f"normalized risk  {self.normalized_risk:.10g}   (1 = predicting zero)",
        ]
        if self.monte_carlo is not None:
            mc = self._mc_dict
            lines += [
                f"monte carlo      {mc['mean']:.10g} ± {mc['stderr']:.3g} (SE), 95% CI [{mc['ci_low']:.6g}, "
                f"{mc['ci_high']:.6g}], {mc['samples']} prompts, seed {mc['seed']}",
                f"relative SE      {100 * mc['relative_stderr']:.3g}%   ({mc['estimator']} estimator, "
                f"{mc['backend']})",
                f"z-score          {mc['z_score']:+.3f}   (MC − closed form)/SE",
            ]
        return "\n".join(lines)
