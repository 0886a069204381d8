"""The library API the CLI merely calls: one function per question, one report object per answer.

* :func:`solve_problem` — ``wpgd solve``: the optimum over a weight class (or all of them side by
  side), with the high-precision solve, the uniqueness certificate, the stationary points or the
  L-step reference on request. It checks the combination of options, refuses what cannot be
  computed (extreme scales, estimated time over the limit) and runs solve-then-certify: the core
  solver (:mod:`wpgd.numerics.core.solver`) knows nothing of certificates.
* :func:`conditions_report` — ``wpgd conditions``.
* :func:`risk_report` — ``wpgd risk``: closed form and optional Monte Carlo.

The report objects live in :mod:`wpgd.numerics.core.reports`; every report follows :mod:`wpgd.numerics.core.results`:
``status``, ``converged``, ``message``,
``to_dict(arrays=False)`` (what ``--json`` prints, exactly) and ``summary()`` (what the CLI
prints as text).

>>> import numpy as np
>>> from wpgd.numerics.core.problem import Problem
>>> rep = solve_problem(Problem.segmented(np.eye(2), [3, 3], [0.2, 0.8], noise=0.1), cls="all")
>>> rep.status, list(rep.to_dict()["classes"])[:2]
('converged', ['linear', 'geometric'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from wpgd.numerics.core.atlas import architecture_optimum
from wpgd.numerics.core.classes import class_optimum, compare_classes, from_optimum
from wpgd.numerics.core.conditions import ConditionReport, check_conditions
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.limits import require_seconds, require_time
from wpgd.numerics.core.montecarlo import monte_carlo_risk
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.reports import RiskReport, SolveReport
from wpgd.numerics.core.results import json_clean
from wpgd.numerics.core.risk import check_pw, risk
from wpgd.numerics.core.safety import relative_error
from wpgd.numerics.core.solver import SCALE_EXPONENT, Optimum, solve
from wpgd.numerics.core.stationary import classify
from wpgd.numerics.core.units import extreme_exponents, map_units, units_note
from wpgd.numerics.core.vocabulary import (
    ARCHITECTURES,
    ATLAS_CONTEXTS,
    CLASSES,
    GDPP_STEPS_CLASSES,
    MULTISTEP_CLASSES,
    SOLVE_CLASS_CHOICES,
    STEPS_CLASSES,
    WPGD_ARCHITECTURES,
)

__all__ = ["RiskReport", "SolveReport", "conditions_report", "risk_report", "solve_problem"]

MIN_DIGITS = 20
"""Smallest ``precision`` of the high-precision solve."""

CERTIFY_DIGITS = 30
"""Working precision of the certificate (at least; a higher ``precision`` is used when given)."""


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
    steps_class: str | None = None,
    seed: int = 0,
    progress: bool = False,
    context: str = "none",
    heads: int = 1,
) -> SolveReport:
    """The optimum of ``problem`` over one weight class, or all of them side by side.

    Args:
        problem: the setting.
        cls: a weight class (:data:`wpgd.numerics.core.vocabulary.CLASSES`), an architecture with
            a WPGD form (:data:`wpgd.numerics.core.vocabulary.WPGD_ARCHITECTURES`: the optimum of
            :func:`wpgd.numerics.core.atlas.architecture_optimum`), or "all" (every class, then
            every architecture).
        precision: also solve with this many digits (≥ 20; Arb balls or mpmath), report the
            float64 errors. Unconstrained (or "all") only.
        certify: also prove (or fail to prove) that the fixed point is unique. Unconstrained
            (or "all") only.
        backend: "arb", "mpmath" or "auto" (Arb when python-flint is installed) for
            ``precision``/``certify``.
        stationary: classify every stationary point family (Hessian inertia). Unconstrained
            (or "all") only.
        key_width: key width of the vector class and the vector-gated architectures ("vector",
            "gla", "rwkv6" or "all" only).
        steps: L ≥ 2 fits an L-step class (``cls`` "scalar" or "linear"; needs torch).
        steps_class: the L-step class: "gdpp-rescale" (gated GD++ with label rescaling: label
            and feature writes plus the delimiter's gated label rescaling, what trained L-layer
            scalar GLAs compute, docs/multilayer.md; the default for ``cls="scalar"``), "gdpp"
            (gated GD++ without the rescaling, one shared delimiter gate per layer: the class
            before issue 17's L = 3 finding) or "recursion" (the label-only structured recursion
            (6.1); the only one for "linear").
        seed: seed of the L-step fit.
        progress: show the L-step fit's progress bar.
        context: prompt context of the architectures ("none", the paper's prompt, or "onehot":
            demonstrations carry their segment one-hot); architectures or "all" only.
        heads: heads sharing one preconditioner (docs/theory.md §8.3); architectures or "all" only.

    Returns:
        A :class:`SolveReport`.

    Raises:
        InvalidProblemError: a combination of options that does not apply, an option out of
            range, an extreme-scale problem with an option that does not rescale, or an estimated
            time over the limit (:class:`~wpgd.numerics.core.errors.ResourceLimitError`).
        SolverError: a solve that cannot be carried out in float64.
    """
    _check_options(cls, precision, certify, stationary, key_width, steps, seed)
    _check_context(cls, context)
    if heads != 1 and cls not in WPGD_ARCHITECTURES + ("all",):
        raise InvalidProblemError(f"--heads applies to the architectures ({', '.join(WPGD_ARCHITECTURES)}) or "
                                  f"--class all, not to the weight class {cls!r}")
    steps_class = _steps_class(cls, steps, steps_class)
    if precision is not None:
        _require_precision(problem, precision)
    _refuse_extreme_scales(problem, precision, certify, stationary, steps)
    if steps_class in GDPP_STEPS_CLASSES:
        from wpgd.numerics.nn.gdpp_optimum import gdpp_optimum

        plain = dict(label_rescale=False, codes="flag") if steps_class == "gdpp" else {}
        res = gdpp_optimum(problem, steps, seed=seed, progress=progress, **plain)
        return SolveReport(problem, cls, res, steps=steps, steps_class=steps_class)
    if steps > 1:
        from wpgd.numerics.nn.multistep import multistep_optimum

        res = multistep_optimum(problem, steps, gating=cls, seed=seed, progress=progress)
        return SolveReport(problem, cls, res, steps=steps, steps_class="recursion")
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
        for a in WPGD_ARCHITECTURES:
            optima[a] = architecture_optimum(problem, a, context=context, key_width=_arch_width(a, key_width),
                                             heads=heads)
        return SolveReport(
            problem, "all", compare_classes(problem, tuple(optima), optima=optima), unconstrained=uncon
        )
    if cls in WPGD_ARCHITECTURES:
        return SolveReport(problem, cls, architecture_optimum(problem, cls, context=context, heads=heads,
                                                              key_width=_arch_width(cls, key_width)))
    return SolveReport(
        problem, cls, class_optimum(problem, cls, key_width=key_width if cls == "vector" else None)
    )


def _steps_class(cls: str, steps: int, steps_class: str | None) -> str | None:
    """The L-step class to fit (None for one step); refuses the combinations that do not apply."""
    if steps_class is not None and steps_class not in STEPS_CLASSES:
        raise InvalidProblemError(f"--steps-class must be one of {', '.join(STEPS_CLASSES)}, got {steps_class!r}")
    if steps == 1:
        if steps_class is not None:
            raise InvalidProblemError("--steps-class goes with --steps L ≥ 2")
        return None
    if steps_class is None:
        return STEPS_CLASSES[0] if cls == "scalar" else "recursion"
    if steps_class in GDPP_STEPS_CLASSES and cls != "scalar":
        raise InvalidProblemError(f"--steps-class {steps_class} goes with --class scalar (use --steps-class "
                                  "recursion for --class linear)")
    return steps_class


def _arch_width(name: str, key_width: int | None) -> int | None:
    return key_width if ARCHITECTURES[name].gating == "vector" else None


def _check_context(cls: str, context: str) -> None:
    if context not in ATLAS_CONTEXTS:
        raise InvalidProblemError(f"--context must be one of {', '.join(ATLAS_CONTEXTS)}, got {context!r}")
    if context != "none" and cls not in WPGD_ARCHITECTURES + ("all",):
        raise InvalidProblemError(f"--context applies to the architectures ({', '.join(WPGD_ARCHITECTURES)}) "
                                  f"or --class all, not to the weight class {cls!r}")


def _check_options(cls, precision, certify, stationary, key_width, steps, seed) -> None:
    if cls not in SOLVE_CLASS_CHOICES:
        raise InvalidProblemError(f"class must be one of {', '.join(SOLVE_CLASS_CHOICES)}, got {cls!r}")
    if precision is not None and precision < MIN_DIGITS:
        raise InvalidProblemError(f"--precision must be at least {MIN_DIGITS} digits, got {precision}")
    if cls not in ("unconstrained", "all") and (precision is not None or certify or stationary):
        raise InvalidProblemError(
            "--precision, --certify and --stationary apply to --class unconstrained (or all)"
        )
    widths = ("vector", "all") + tuple(a for a in WPGD_ARCHITECTURES if ARCHITECTURES[a].gating == "vector")
    if key_width is not None and (key_width < 1 or cls not in widths):
        raise InvalidProblemError(
            f"--key-width must be a positive integer and goes with --class {', '.join(widths)}"
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
    """The plain solve, the classes, the conditions, and (through :mod:`wpgd.numerics.core.units`) the
    high-precision solve, the certificate and the stationary points handle extreme scales; the
    L-step fit does not: refuse it with the rescaling that would."""
    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) <= SCALE_EXPONENT or steps <= 1:
        return
    raise InvalidProblemError(
        f"--steps: not available at extreme scales (λmax(Σ) ≈ 2^{e_s}, "
        f"task scale ≈ 2^{e_t}); rescale the spec (Σ / 2^{e_s}, task correlations / 2^{e_t}, "
        f"σ² / 2^{e_s + e_t}); the optimum maps back as Q → Q/2^{e_s}, risk → risk·2^{e_s + e_t}"
    )


def _float64_refusal(what: str, problem: Problem, exc: BaseException) -> str:
    """Why ``what`` failed in float64 although the problem was brought to unit scale: the ratio of
    the noise to the signal, which rescaling leaves unchanged."""
    e_s, e_t = problem.scale_exponents()
    ratio = problem.noise / np.ldexp(1.0, e_s + e_t) if abs(e_s + e_t) < 1000 else float("nan")
    return (f"{what} cannot be computed in float64 for this problem ({type(exc).__name__}: {exc}); its "
            f"noise-to-signal ratio σ²/(λmax(Σ)·max|R̄|) ≈ {ratio:.3g} is too extreme (rescaling does not "
            "change it)")


def _require_precision(problem: Problem, digits: int) -> None:
    """Refuse an mpmath solve whose estimated time exceeds the limit (wpgd.numerics.core.limits): about
    30·(m³ + d³) multiprecision operations of ~1 µs·(digits/50)^1.6 each (m = K+1 or n+1)."""
    m = (problem.num_segments or problem.n) + 1
    ops = 30.0 * (float(m) ** 3 + float(problem.d) ** 3)
    require_seconds(
        f"a {digits}-digit solve (d = {problem.d}, m = {m})", ops * 1e-6 * max(1.0, digits / 50) ** 1.6
    )


def _unconstrained(problem: Problem, precision, certify, backend, stationary) -> SolveReport:
    """Solve, then (on request) the high-precision solve, the certificate and the stationary points.

    At extreme scales these three run on the problem rescaled to unit scale and are mapped back
    exactly (:mod:`wpgd.numerics.core.units`); the float64 optimum comes from :func:`solve`, which rescales
    itself."""

    exps = extreme_exponents(problem)
    if exps is not None and (certify or precision is not None or stationary):
        return _unconstrained_rescaled(problem, precision, certify, backend, stationary, *exps)
    return _unconstrained_plain(problem, precision, certify, backend, stationary)


def _unconstrained_rescaled(problem: Problem, precision, certify, backend, stationary, e_s: int,
                            e_t: int) -> SolveReport:

    plain = _unconstrained_plain(problem, None, False, backend, False)
    hat = _unconstrained_plain(problem.rescaled(e_s, e_t), precision, certify, backend, stationary).to_dict()
    parts = {k: map_units(hat[k], e_s, e_t) for k in ("high_precision", "certificate", "certified",
                                                        "stationary_points") if hat.get(k) is not None}
    parts["rescaled"] = units_note(e_s, e_t)
    return replace(plain, rescaled=parts)


def _unconstrained_plain(problem: Problem, precision, certify, backend, stationary) -> SolveReport:
    from wpgd.numerics.exact.ball._flint import resolve_backend

    exact = resolve_backend(backend) if (certify or precision is not None) else None
    opt = solve(problem)
    cert, hp = None, None
    if exact == "arb":
        cert, hp = _arb_exact(problem, opt, precision, certify)
    else:
        if precision is not None and opt.degenerate is None:
            hp = _mpmath_high_precision(problem, opt, precision)
        if certify and opt.degenerate is None:
            from wpgd.numerics.exact.certificate import certify as run_certificate

            cert = run_certificate(
                problem, max(CERTIFY_DIGITS, precision or 0), structured=opt.method == "segments"
            )
    points: tuple = ()
    if stationary:

        try:
            with np.errstate(all="raise", under="ignore"):  # a failure is an exit-2 line, never a warning
                points = tuple(classify(problem, opt))
        except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
            raise InvalidProblemError(_float64_refusal("--stationary (the Hessian classification)", problem,
                                                       exc)) from None
    return SolveReport(
        problem, "unconstrained", opt, certificate=cert, high_precision=hp, stationary_points=points
    )


def _mpmath_high_precision(problem: Problem, opt: Optimum, digits: int) -> dict:
    from wpgd.numerics.exact.highprec import solve_highprec

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
    """The certificate and the ball solve on the Arb layer (wpgd.numerics.exact.ball)."""
    from wpgd.numerics.exact.ball import certify_arb, solve_ball

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
        A :class:`~wpgd.numerics.core.conditions.ConditionReport`.
    """
    return check_conditions(
        problem, certify_digits=CERTIFY_DIGITS if certify else None, certify_backend=backend
    )


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
        estimator: "conditional", "query" or "plain" (:func:`wpgd.numerics.core.montecarlo.monte_carlo_risk`).
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
