"""The library API the CLI merely calls: one function per question, one report object per answer.

* :func:`solve_problem` — ``wpgd solve``: the optimum over a weight class (or all of them side by
  side), with the high-precision solve, the uniqueness certificate, the stationary points or the
  L-step reference on request. It checks the combination of options, refuses what cannot be
  computed (extreme scales, estimated time over the limit) and runs solve-then-certify: the core
  solver (:mod:`numerics.solver`) knows nothing of certificates.
* :func:`conditions_report` — ``wpgd conditions``.
* :func:`risk_report` — ``wpgd risk``: closed form and optional Monte Carlo.

Every report follows :mod:`numerics.results`: ``status``, ``converged``, ``message``,
``to_dict(arrays=False)`` (what ``--json`` prints, exactly) and ``summary()`` (what the CLI
prints as text).

>>> import numpy as np
>>> from numerics.problem import Problem
>>> rep = solve_problem(Problem.segmented(np.eye(2), [3, 3], [0.2, 0.8], noise=0.1), cls="all")
>>> rep.status, sorted(rep.to_dict()["classes"])[:2]
('converged', ['geometric', 'linear'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .classes import class_optimum, compare_classes, from_optimum
from .conditions import ConditionReport, check_conditions
from .errors import InvalidProblemError
from .limits import require_seconds
from .problem import Problem
from .results import Result, json_clean
from .risk import check_pw, risk
from .safety import relative_error
from .solver import SCALE_EXPONENT, Optimum, solve
from .vocabulary import CLASS_CHOICES, CLASSES, MULTISTEP_CLASSES

__all__ = ["RiskReport", "SolveReport", "conditions_report", "risk_report", "solve_problem"]

MIN_DIGITS = 20
"""Smallest ``precision`` of the high-precision solve."""

CERTIFY_DIGITS = 30
"""Working precision of the certificate (at least; a higher ``precision`` is used when given)."""


def _problem_line(problem: Problem) -> str:
    pr = problem.describe()
    segs = (
        f" (segments {pr['segments']})" if pr.get("form") == "segments" and len(pr["segments"]) <= 12 else ""
    )
    return (f"problem          d = {pr['d']}, n = {pr['n']}{segs}, tr Σ = {pr['trace_sigma']:.6g}, "
            f"σ² = {pr['noise']:.6g}")


@dataclass(frozen=True, repr=False)
class SolveReport(Result):
    """The answer of :func:`solve_problem` (result conventions: :mod:`numerics.results`).

    Attributes:
        problem: the problem solved.
        cls: the class asked for (one of :data:`numerics.vocabulary.CLASS_CHOICES`).
        result: an :class:`~numerics.solver.Optimum` (``cls="unconstrained"``), a
            :class:`~numerics.classes.ClassOptimum`, a :class:`~numerics.classes.ClassComparison`
            (``cls="all"``) or a :class:`~numerics.multistep.MultistepOptimum` (``steps > 1``).
        steps: L (1 = one layer).
        certificate: the uniqueness certificate (``certify=True``), or None.
        high_precision: the high-precision solve's values and the float64 errors, or None.
        stationary_points: every stationary point family (``stationary=True``).
        unconstrained: for ``cls="all"``, the report of the unconstrained solve.
    """

    problem: Problem
    cls: str
    result: Any
    steps: int = 1
    certificate: Any = None
    high_precision: dict | None = None
    stationary_points: tuple = ()
    unconstrained: SolveReport | None = None

    @property
    def status(self) -> str:
        if self.steps > 1:
            return "converged" if self.result.converged else "not_converged"
        return self.result.status

    @property
    def converged(self) -> bool:
        return bool(self.result.converged)

    @property
    def message(self) -> str:
        return str(self.result.message)

    def __repr__(self) -> str:
        return (
            f"SolveReport(cls={self.cls!r}, steps={self.steps}, risk={self.risk:.6g}, "
            f"normalized_risk={self.normalized_risk:.6g}, status={self.status!r})"
        )

    @property
    def risk(self) -> float:
        """The optimal risk (for ``cls="all"``: the unconstrained one), raw units of y²."""
        return float(self.result.optima["unconstrained"].risk if self.cls == "all" else self.result.risk)

    @property
    def normalized_risk(self) -> float:
        """risk / (r_q tr Σ + σ²)."""
        return self.risk / self.problem.null_risk

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``wpgd solve --out`` saves: P and ω (``<class>_P``, ``<class>_omega`` for
        ``cls="all"``; the layers' Q matrices for ``steps > 1``)."""
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
            out = self.result.to_dict(arrays=arrays)
            out["unconstrained_solve"] = self.unconstrained.to_dict(arrays=False)
            out["unconstrained_solve"].pop("problem")
            return out
        out: dict = {"problem": self.problem.describe(), "class": self.cls}
        if self.steps > 1:
            out["steps"] = self.steps
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
        return json_clean(out)

    def summary(self) -> str:
        """What ``wpgd solve`` prints as text."""
        if self.cls == "all":
            return self.result.summary()
        lines = [_problem_line(self.problem)]
        if self.steps > 1:
            lines += _multistep_lines(self.result, self.cls, self.steps)
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
        if self.high_precision is not None:
            hp = self.high_precision
            err = hp["float64_rel_error"]
            rad = f" ± {hp['balls']['risk']['rad']:.1e} (proven ball, Arb)" if "balls" in hp else ""
            lines.append(f"high precision   {hp['digits']} digits: risk = {hp['risk'][:40]}{rad}")
            names = {"gamma": "γ", "omega": "ω", "mu": "μ"}
            lines.append(
                "float64 error    "
                + ", ".join(f"{names.get(k, k)} {v:.2e}" for k, v in err.items())
                + " (relative)"
            )
        if self.certificate is not None:
            lines.append(_certificate_line(self.certificate.to_dict()))
        for sp in self.stationary_points:
            pos, neg, zero = sp.inertia
            where = f" γ = {sp.gamma:.8g}" if sp.gamma is not None else ""
            star = "  ← global minimum" if sp.global_min else ""
            lines.append(
                f"stationary       {sp.kind:<6} {sp.type:<10} inertia n+={pos} n-={neg} n0={zero}"
                f" risk {sp.risk:.8g}{where}{star}"
            )
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


def _multistep_lines(res, cls: str, steps: int) -> list[str]:
    lo, hi = res.normalized_ci
    lines = [
        f"class            {cls}, {steps}-step causal WPGD recursion (L-layer GLA construction)",
        f"risk             {res.risk:.8g}   (fresh prompts; an upper-bound estimate of the optimum)",
        f"normalized risk  {res.normalized_risk:.6f}  95% CI [{lo:.6f}, {hi:.6f}] "
        f"(±{res.rel_ci_halfwidth:.2%}, {res.samples[1]} prompts)",
        f"in-sample        {res.fit_normalized_risk:.6f}   ({res.samples[0]} fitting prompts)",
        f"one step         {res.one_layer_normalized_risk:.6f}   (closed-form {cls} optimum)",
    ]
    for layer, (_, gates) in enumerate(res.params, 1):
        desc = ", ".join(f"{k} {v:.4g}" for k, v in gates.items()) or "none (linear)"
        lines.append(f"layer {layer:<10} gates: {desc}")
    lines.append(
        f"fit              {'converged' if res.converged else 'NOT converged'}: {res.message} "
        f"({res.seconds:.1f} s)"
    )
    return lines


def solve_problem(
    problem: Problem,
    *,
    cls: str = "unconstrained",
    precision: int | None = None,
    certify: bool = False,
    backend: str = "auto",
    stationary: bool = False,
    key_width: int | None = None,
    steps: int = 1,
    seed: int = 0,
    progress: bool = False,
) -> SolveReport:
    """The optimum of ``problem`` over one weight class, or all of them side by side.

    Args:
        problem: the setting.
        cls: a weight class (:data:`numerics.vocabulary.CLASSES`) or "all".
        precision: also solve with this many digits (≥ 20; Arb balls or mpmath), report the
            float64 errors. Unconstrained (or "all") only.
        certify: also prove (or fail to prove) that the fixed point is unique. Unconstrained
            (or "all") only.
        backend: "arb", "mpmath" or "auto" (Arb when python-flint is installed) for
            ``precision``/``certify``.
        stationary: classify every stationary point family (Hessian inertia). Unconstrained
            (or "all") only.
        key_width: key width of the vector class ("vector" or "all" only).
        steps: L ≥ 2 fits the L-step WPGD reference (``cls`` "scalar" or "linear"; needs torch).
        seed: seed of the L-step fit.
        progress: show the L-step fit's progress bar.

    Returns:
        A :class:`SolveReport`.

    Raises:
        InvalidProblemError: a combination of options that does not apply, an option out of
            range, an extreme-scale problem with an option that does not rescale, or an estimated
            time over the limit (:class:`~numerics.errors.ResourceLimitError`).
        SolverError: a solve that cannot be carried out in float64.
    """
    _check_options(cls, precision, certify, stationary, key_width, steps, seed)
    if precision is not None:
        _require_precision(problem, precision)
    _refuse_extreme_scales(problem, precision, certify, stationary, steps)
    if steps > 1:
        from .multistep import multistep_optimum

        res = multistep_optimum(problem, steps, gating=cls, seed=seed, progress=progress)
        return SolveReport(problem, cls, res, steps=steps)
    if cls == "unconstrained":
        return _unconstrained(problem, precision, certify, backend, stationary)
    if cls == "all":
        uncon = _unconstrained(problem, precision, certify, backend, stationary)
        optima = {
            c: from_optimum(problem, uncon.result)
            if c == "unconstrained"
            else class_optimum(problem, c, key_width=key_width if c == "vector" else None)
            for c in CLASSES
        }
        return SolveReport(
            problem, "all", compare_classes(problem, CLASSES, optima=optima), unconstrained=uncon
        )
    return SolveReport(
        problem, cls, class_optimum(problem, cls, key_width=key_width if cls == "vector" else None)
    )


def _check_options(cls, precision, certify, stationary, key_width, steps, seed) -> None:
    if cls not in CLASS_CHOICES:
        raise InvalidProblemError(f"class must be one of {', '.join(CLASS_CHOICES)}, got {cls!r}")
    if precision is not None and precision < MIN_DIGITS:
        raise InvalidProblemError(f"--precision must be at least {MIN_DIGITS} digits, got {precision}")
    if cls not in ("unconstrained", "all") and (precision is not None or certify or stationary):
        raise InvalidProblemError(
            "--precision, --certify and --stationary apply to --class unconstrained (or all)"
        )
    if key_width is not None and (key_width < 1 or cls not in ("vector", "all")):
        raise InvalidProblemError(
            "--key-width must be a positive integer and goes with --class vector or all"
        )
    if steps < 1:
        raise InvalidProblemError(f"--steps must be ≥ 1, got {steps}")
    if steps > 1 and cls not in MULTISTEP_CLASSES:
        raise InvalidProblemError(
            "--steps L ≥ 2 goes with --class scalar or --class linear (the L-step recursion "
            "with scalar gates by token type, or without gates)"
        )
    if seed < 0:
        raise InvalidProblemError(f"--seed must be ≥ 0, got {seed}")


def _refuse_extreme_scales(problem: Problem, precision, certify, stationary, steps) -> None:
    """The plain solve, the classes and the conditions rescale extreme problems; the high-precision
    solve, the certificate, the stationary-point classification and the L-step fit do not: refuse."""
    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) <= SCALE_EXPONENT:
        return
    extras = [
        f
        for f, on in (
            ("--precision", precision is not None),
            ("--certify", certify),
            ("--stationary", stationary),
            ("--steps", steps > 1),
        )
        if on
    ]
    if extras:
        raise InvalidProblemError(
            f"{', '.join(extras)}: not available at extreme scales (λmax(Σ) ≈ 2^{e_s}, "
            f"task scale ≈ 2^{e_t}); rescale the spec (Σ / 2^{e_s}, task correlations / 2^{e_t}, "
            f"σ² / 2^{e_s + e_t}); the optimum maps back as P* → P*/2^{e_s}, risk → risk·2^{e_s + e_t}"
        )


def _require_precision(problem: Problem, digits: int) -> None:
    """Refuse an mpmath solve whose estimated time exceeds the limit (numerics.limits): about
    30·(m³ + d³) multiprecision operations of ~1 µs·(digits/50)^1.6 each (m = K+1 or n+1)."""
    m = (problem.num_segments or problem.n) + 1
    ops = 30.0 * (float(m) ** 3 + float(problem.d) ** 3)
    require_seconds(
        f"a {digits}-digit solve (d = {problem.d}, m = {m})", ops * 1e-6 * max(1.0, digits / 50) ** 1.6
    )


def _unconstrained(problem: Problem, precision, certify, backend, stationary) -> SolveReport:
    """Solve, then (on request) the high-precision solve, the certificate and the stationary points."""
    from .ball._flint import resolve_backend

    exact = resolve_backend(backend) if (certify or precision is not None) else None
    opt = solve(problem)
    cert, hp = None, None
    if exact == "arb":
        cert, hp = _arb_exact(problem, opt, precision, certify)
    else:
        if precision is not None and opt.degenerate is None:
            hp = _mpmath_high_precision(problem, opt, precision)
        if certify and opt.degenerate is None:
            from .certificate import certify as run_certificate

            cert = run_certificate(
                problem, max(CERTIFY_DIGITS, precision or 0), structured=opt.method == "segments"
            )
    points: tuple = ()
    if stationary:
        from .stationary import classify

        points = tuple(classify(problem, opt))
    return SolveReport(
        problem, "unconstrained", opt, certificate=cert, high_precision=hp, stationary_points=points
    )


def _mpmath_high_precision(problem: Problem, opt: Optimum, digits: int) -> dict:
    from .highprec import solve_highprec

    hp = solve_highprec(problem, digits, float_optimum=opt)
    return {
        "digits": digits,
        "risk": hp.details["risk"],
        "normalized_risk": hp.details["normalized_risk"],
        "gamma": hp.details["gamma"],
        "mu": hp.details["mu"],
        "float64_rel_error": {
            "risk": abs(opt.risk - hp.risk) / abs(hp.risk),
            "gamma": abs(opt.gamma - hp.gamma) / hp.gamma,
            "omega": relative_error(opt.omega, hp.omega),
            "P": relative_error(opt.P, hp.P),
        },
    }


def _arb_exact(problem: Problem, opt: Optimum, precision, certify) -> tuple:
    """The certificate and the ball solve on the Arb layer (numerics.ball)."""
    from .ball import certify_arb, solve_ball

    cert, hp = None, None
    if precision is not None and opt.degenerate is None:
        ball = solve_ball(problem, precision)
        cert = ball.certificate
        rel: Callable = lambda a, b: abs(a - b.value) / abs(b.value)  # noqa: E731
        hp = {
            "backend": "arb",
            "digits": precision,
            "risk": ball.risk.mid,
            "normalized_risk": ball.normalized_risk.mid,
            "gamma": ball.gamma.mid,
            "mu": ball.mu.mid,
            "balls": ball.to_dict(),
            "omega_balls": [w.to_dict() for w in ball.omega],
            "float64_rel_error": {
                "risk": rel(opt.risk, ball.risk),
                "gamma": rel(opt.gamma, ball.gamma),
                "mu": rel(opt.mu, ball.mu),
                "omega": relative_error(opt.omega, ball.omega_float),
            },
        }
    if not certify:
        return None, hp
    return (certify_arb(problem, CERTIFY_DIGITS) if cert is None else cert), hp


def conditions_report(problem: Problem, *, certify: bool = False, backend: str = "auto") -> ConditionReport:
    """Every condition of docs/conditions.md for ``problem`` (``wpgd conditions``).

    Args:
        problem: the setting.
        certify: also run the uniqueness certificate (30 digits).
        backend: its backend, "arb", "mpmath" or "auto".

    Returns:
        A :class:`~numerics.conditions.ConditionReport`.
    """
    return check_conditions(
        problem, certify_digits=CERTIFY_DIGITS if certify else None, certify_backend=backend
    )


@dataclass(frozen=True, repr=False)
class RiskReport(Result):
    """The answer of :func:`risk_report` (result conventions: :mod:`numerics.results`).

    ``status`` is "converged" (the closed form is exact); with Monte Carlo, ``message`` gives its
    z-score against the closed form.

    Attributes:
        problem: the setting.
        risk: L(P, ω), raw units of y².
        normalized_risk: risk / null_risk.
        null_risk: r_q tr Σ + σ², the risk of predicting zero.
        monte_carlo: a :class:`~numerics.montecarlo.MonteCarloResult`, or None.
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


def risk_report(
    problem: Problem,
    P=None,
    omega=None,
    *,
    mc: int = 0,
    estimator: str = "conditional",
    seed: int = 0,
    backend: str = "numpy",
    progress: Callable[[int, int], None] | None = None,
) -> RiskReport:
    """Closed-form risk of ŷ = xᵀP Xᵀ(ω ⊙ y), and optionally a Monte Carlo estimate (``wpgd risk``).

    Args:
        problem: the setting.
        P: preconditioner, shape (d, d) (default identity).
        omega: weights, shape (n,) (default ones).
        mc: Monte Carlo prompts (0 = none; otherwise at least 2).
        estimator: "conditional", "query" or "plain" (:func:`numerics.montecarlo.monte_carlo_risk`).
        seed: seed of the sampler.
        backend: "numpy" or "torch".
        progress: called with (done, total) prompts.

    Returns:
        A :class:`RiskReport`.

    Raises:
        InvalidProblemError: shapes that do not fit, ``mc`` of 1 or negative, or an estimated time
            over the limit.
    """
    P, omega = check_pw(problem, P, omega)
    if P.ndim != 2 or omega.ndim != 1:
        raise InvalidProblemError("--preconditioner must be one d×d matrix and --weights one length-n vector")
    val = risk(problem, P, omega)
    if mc < 0:
        raise InvalidProblemError("--mc must be a non-negative number of samples")
    mc_result, mc_dict = None, {}
    if mc:
        from .limits import require_time
        from .montecarlo import monte_carlo_risk

        # per prompt: features (n+1)×d through a d×d factor, labels, the weighted sum and the query
        require_time(
            f"Monte Carlo with {mc} prompts (n = {problem.n}, d = {problem.d})",
            mc * 4.0 * (problem.n + 1) * (problem.d + 1) ** 2,
        )
        if mc == 1:
            raise InvalidProblemError("--mc needs at least 2 samples (a standard error needs two)")
        mc_result = monte_carlo_risk(
            problem, P, omega, samples=mc, seed=seed, backend=backend, estimator=estimator, progress=progress
        )
        mc_dict = json_clean(mc_result.to_dict(reference=val))
    return RiskReport(problem, val, val / problem.null_risk, problem.null_risk, mc_result, mc_dict)
