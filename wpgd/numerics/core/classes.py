"""Optimal WPGD risk over the weights each architecture can realise (docs/theory.md §2, §5; docs/gating.md).

Classes (ω up to sign and scale, P free unless stated):

* ``linear``         linear attention, ω ∝ 1 (closed form);
* ``geometric``      a fixed, data-independent scalar decay, ω_i = g^{n−i}, g ∈ [0, 1] — a
  *reference line*, not a bound: a data-dependent gate without delimiters was trained ~1.4%
  below it;
* ``scalar``         scalar gating with delimiters: 0 ≤ ω_1 ≤ … ≤ ω_n (every such ω is realised,
  :func:`wpgd.numerics.nn.construct.scalar_segment_group`);
* ``vector``         vector (key-channel) gating of key width m: {ω monotone, rank P ≤ m} ∪
  {ω arbitrary, rank P ≤ ⌊m/2⌋} (docs/gating.md §4); m ≥ 2d reaches the unconstrained optimum;
* ``unconstrained``  ω ∈ Rⁿ (:func:`wpgd.numerics.core.solver.solve`).

Risks are raw (units of y²) and normalised by the null risk r_q tr Σ + σ². The ordering
linear ≥ geometric ≥ scalar ≥ unconstrained holds by inclusion of the classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize_scalar

from wpgd.numerics.core.errors import InvalidProblemError, SolverError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.vocabulary import CLASSES, class_label, vector_key_width
from wpgd.numerics.core.weighting import best_for_weights, cone_optimum

__all__ = [
    "CLASSES",
    "ClassComparison",
    "ClassOptimum",
    "class_optimum",
    "class_optima",
    "class_gaps",
    "compare_classes",
    "geometric_weights",
    "is_monotone",
]

@dataclass(frozen=True, repr=False)
class ClassOptimum(Result):
    """The optimum of one weight class (result conventions: :mod:`wpgd.numerics.core.results`).

    ``status`` is "converged" (the class optimum is a closed form or a cone search that raises
    :class:`~wpgd.numerics.core.errors.SolverError` when it fails), or, for the unconstrained class, the
    solver's status ("converged", "not_converged", "degenerate").

    Attributes:
        cls: class name (one of :data:`CLASSES`), or the architecture's name for an atlas row
            (:func:`wpgd.numerics.core.atlas.architecture_optimum`).
        risk: optimal population risk, raw units of y².
        normalized_risk: risk / (r_q tr Σ + σ²).
        P: optimal preconditioner, shape (d, d) (paired with ``omega``; the pair is unique only
            up to ``(tP, ω/t)``).
        omega: optimal weights, shape (n,).
        label: an honest one-line caption of what the class is.
        details: JSON-serialisable extras (segment weights, γ, μ, g, key width ...).
        status: see above.
        message: why, in one line.
    """

    cls: str
    risk: float
    normalized_risk: float
    P: np.ndarray
    omega: np.ndarray
    label: str
    details: dict = field(default_factory=dict)
    status: str = "converged"
    message: str = "closed form / cone search"

    @property
    def converged(self) -> bool:
        """True unless the (unconstrained) solve did not converge."""
        return self.status in ("converged", "degenerate")

    def __repr__(self) -> str:
        return (f"ClassOptimum(cls={self.cls!r}, d={self.P.shape[0]}, n={self.omega.size}, "
                f"risk={self.risk:.6g}, "
                f"normalized_risk={self.normalized_risk:.6g}, status={self.status!r})")

    def summary(self) -> str:
        """The lines ``wpgd solve --class C`` prints (without the problem line)."""
        return "\n".join([f"class            {self.cls}: {self.label}",
                          f"risk             {self.risk:.10g}",
                          f"normalized risk  {self.normalized_risk:.10g}   (1 = predicting zero)"])

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict; with ``arrays``, P and ω (ω omitted when n > 1000)."""
        out = {
            "class": self.cls,
            "risk": float(self.risk),
            "normalized_risk": float(self.normalized_risk),
            "label": self.label,
            "status": self.status,
            "converged": self.converged,
            "message": self.message,
            "details": self.details,
        }
        if arrays:
            out["P"] = self.P
            if self.omega.size <= 1000:
                out["omega"] = self.omega
        return json_clean(out)


def is_monotone(w, tol: float = 1e-9) -> bool:
    """True if ±w is ≥ 0 and non-decreasing (to ``tol`` relative to max |w|)."""
    w = np.asarray(w, dtype=np.float64)
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    if scale == 0.0:
        return True
    w = w / scale
    if w[-1] < 0:
        w = -w
    return bool(np.all(w >= -tol) and np.all(np.diff(w) >= -tol))


def geometric_weights(n: int, g: float) -> np.ndarray:
    """ω_i = g^{n−i}, i = 1..n, computed in log space (entries below e^{−700} are exactly 0)."""
    if not 0.0 <= g <= 1.0:
        raise InvalidProblemError(f"a decay must lie in [0, 1], got {g}")
    powers = np.arange(n - 1, -1, -1, dtype=np.float64)
    if g == 0.0:
        return (powers == 0).astype(np.float64)
    logw = powers * np.log(g)
    out = np.zeros(n)
    ok = logw > -700.0
    out[ok] = np.exp(logw[ok])
    return out


def _make(problem, cls, fixed, omega, label, details) -> ClassOptimum:
    return ClassOptimum(
        cls=cls,
        risk=float(fixed.risk),
        normalized_risk=float(fixed.risk / problem.null_risk),
        P=np.asarray(fixed.P),
        omega=np.asarray(omega),
        label=label,
        details=details,
    )


def _segment_details(problem: Problem, w) -> dict:
    if problem.is_segmented:
        return {"segment_weights": np.asarray(w, dtype=np.float64).tolist()}
    return {}


def _linear(problem: Problem) -> ClassOptimum:
    omega = np.ones(problem.n)
    fixed = best_for_weights(problem, omega)
    det = {"gamma": fixed.gamma, **_segment_details(problem, np.ones(problem.num_segments or 0))}
    return _make(problem, "linear", fixed, omega, class_label("linear"), det)


def _geometric(problem: Problem, grid: int = 161) -> ClassOptimum:
    n = problem.n

    def value(g):
        return best_for_weights(problem, geometric_weights(n, g)).risk

    # g near 1 matters most (decay over n tokens): grid in t = −log10(1 − g) plus a linear grid
    ts = np.linspace(0.0, np.log10(max(n, 2)) + 3.0, grid // 2)
    gs = np.unique(np.concatenate([1.0 - 10.0 ** (-ts), np.linspace(0.0, 1.0, grid - grid // 2)]))
    vals = np.array([value(g) for g in gs])
    i = int(np.argmin(vals))
    g_best, v_best = float(gs[i]), float(vals[i])
    left, right = gs[max(i - 1, 0)], gs[min(i + 1, gs.size - 1)]
    if right > left:
        res = minimize_scalar(value, bounds=(left, right), method="bounded", options={"xatol": 1e-13})
        if res.fun < v_best:
            g_best, v_best = float(res.x), float(res.fun)
    omega = geometric_weights(n, g_best)
    fixed = best_for_weights(problem, omega)
    det = {"decay": g_best, "gamma": fixed.gamma, "reference_line_not_a_bound": True}
    return _make(problem, "geometric", fixed, omega, class_label("geometric"), det)


def _cone(problem: Problem, cls: str, cone: str, rank=None, label=None) -> ClassOptimum:
    fixed, omega, w, mu = cone_optimum(problem, cone, rank)
    det = {"gamma": fixed.gamma, "mu": mu, "rank": fixed.rank, **_segment_details(problem, w)}
    return _make(problem, cls, fixed, omega, label or class_label(cls), det)


def _unconstrained(problem: Problem) -> ClassOptimum:
    from wpgd.numerics.core.solver import solve

    return from_optimum(problem, solve(problem))


def from_optimum(problem: Problem, opt) -> ClassOptimum:
    """The unconstrained class optimum of ``problem`` from its solver :class:`~wpgd.numerics.core.solver.Optimum`."""
    omega = np.asarray(opt.omega, dtype=np.float64)
    det = {
        "gamma": None if opt.gamma is None else float(opt.gamma),
        "mu": None if opt.mu is None else float(opt.mu),
        "solver": "wpgd.numerics.core.solver.solve",
        "degenerate": opt.degenerate,
    }
    if problem.is_segmented:
        bounds = np.concatenate([[0], np.cumsum(problem.segment_sizes)[:-1]])
        det["segment_weights"] = omega[bounds].tolist()
    return ClassOptimum(
        cls="unconstrained",
        risk=float(opt.risk),
        normalized_risk=float(opt.risk / problem.null_risk),
        P=np.asarray(opt.P, dtype=np.float64),
        omega=omega,
        label=class_label("unconstrained"),
        details=det,
        status=opt.status,
        message=opt.message,
    )


def _vector(problem: Problem, key_width: int | None) -> ClassOptimum:
    d = problem.d
    m = vector_key_width(d, problem.num_segments or 2) if key_width is None else int(key_width)
    if m < 1:
        raise InvalidProblemError(f"key_width must be ≥ 1, got {m}")
    r_mono, r_free = min(m, d), min(m // 2, d)
    label = class_label("vector", m=m, r1=r_mono, r2=r_free)
    cands = [_cone(problem, "vector", "monotone", r_mono, label)]
    if r_free >= 1:
        cands.append(_cone(problem, "vector", "free", r_free, label))
    best = min(cands, key=lambda c: c.risk)
    det = dict(best.details)
    det.update(
        key_width=m,
        monotone_rank=r_mono,
        free_rank=r_free,
        branch="any ω" if best is not cands[0] else "monotone ω",
        reaches_unconstrained_width=vector_key_width(d, problem.num_segments or 2),
    )
    return replace(best, label=label, details=det)


def class_optimum(problem: Problem, cls: str, *, key_width: int | None = None) -> ClassOptimum:
    """Optimal WPGD risk (and optimal P, ω) over one architecture's weight class.

    Args:
        problem: the setting (segment problems stay O(n); dense ones form n×n matrices).
        cls: "linear", "geometric", "scalar", "vector" or "unconstrained".
        key_width: vector gating only: key width m (default: the width that realises every ω,
            2d for K ≥ 2 segments, d for one segment).

    Returns:
        A :class:`ClassOptimum`.

    >>> import numpy as np
    >>> pr = Problem.segmented(np.eye(2), [3, 3], [0.8, 0.2], noise=0.1)
    >>> lin, sca = (class_optimum(pr, c).risk for c in ("linear", "scalar"))
    >>> bool(abs(lin - sca) < 1e-9)  # reversed segments: scalar gating collapses to linear
    True
    """
    if cls not in CLASSES:
        raise InvalidProblemError(f"class must be one of {', '.join(CLASSES)}, got {cls!r}")
    if key_width is not None and cls != "vector":
        raise InvalidProblemError("key_width applies to the vector class only")
    from wpgd.numerics.core.solver import SCALE_EXPONENT, _ldexp_checked

    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) > SCALE_EXPONENT:
        # L(P, ω) = st·L'(sP, ω) on the rescaled problem (wpgd.numerics.core.solver._solve_rescaled)
        res = class_optimum(problem.rescaled(e_s, e_t), cls, key_width=key_width)
        return replace(res, risk=_ldexp_checked(res.risk, e_s + e_t, "the risk"),
                       P=_ldexp_checked(res.P, -e_s, "P*"), details=dict(res.details, rescaled_by=[e_s, e_t]))
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            res = _class_optimum(problem, cls, key_width)
    except (FloatingPointError, ValueError, ZeroDivisionError, np.linalg.LinAlgError) as exc:
        if isinstance(exc, InvalidProblemError):
            raise
        raise SolverError(f"the {cls} class optimum cannot be computed in float64 for this problem "
                          f"({type(exc).__name__}: {str(exc)[:80]}); its scales are too extreme (e.g. σ² vs the signal)") from None
    if not (np.isfinite(res.risk) and np.all(np.isfinite(res.P)) and np.all(np.isfinite(res.omega))):
        raise SolverError(f"the {cls} class optimum is not finite in float64 for this problem")
    return res


def _class_optimum(problem: Problem, cls: str, key_width):
    if cls == "linear":
        return _linear(problem)
    if cls == "geometric":
        return _geometric(problem)
    if cls == "scalar":
        return _cone(problem, "scalar", "monotone")
    if cls == "vector":
        return _vector(problem, key_width)
    return _unconstrained(problem)


def class_optima(problem: Problem, classes=CLASSES, *, key_width: int | None = None) -> dict:
    """{class name: :class:`ClassOptimum`} for the requested classes (in the given order)."""
    out = {}
    for c in classes:
        out[c] = class_optimum(problem, c, key_width=key_width if c == "vector" else None)
    return out


@dataclass(frozen=True, repr=False)
class ClassComparison(Result):
    """Class optima side by side with the gaps between architectures (:func:`compare_classes`).

    ``status``/``converged``/``message`` are the worst of the optima's (result conventions:
    :mod:`wpgd.numerics.core.results`). Item access ``report["gaps"]`` reads :meth:`to_dict`.

    Attributes:
        problem: the problem's description (:meth:`Problem.describe`).
        optima: class name → :class:`ClassOptimum`, in the requested order.
        gaps: normalised-risk differences (``linear_minus_scalar``) and relative gains
            (``scalar_gain_over_linear``).
        sentences: one sentence per gap (the ``summary`` list of :meth:`to_dict`).
        scalar_reaches_unconstrained: Assumption 3 in its exact form (the unconstrained optimal ω
            is monotone up to sign), or None when "unconstrained" was not requested.
        extra: further JSON-serialisable entries (e.g. the unconstrained solve's diagnostics).
    """

    problem: dict
    optima: dict
    gaps: dict
    sentences: tuple
    scalar_reaches_unconstrained: bool | None = None
    extra: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        bad = [o.status for o in self.optima.values() if not o.converged]
        return bad[0] if bad else "converged"

    @property
    def converged(self) -> bool:
        return all(o.converged for o in self.optima.values())

    @property
    def message(self) -> str:
        bad = [f"{c}: {o.message}" for c, o in self.optima.items() if not o.converged]
        return "; ".join(bad) if bad else f"{len(self.optima)} class optima computed"

    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __repr__(self) -> str:
        rows = ", ".join(f"{c}={o.normalized_risk:.6g}" for c, o in self.optima.items())
        return f"ClassComparison(normalized risks: {rows}; status={self.status!r})"

    def to_dict(self, arrays: bool = False) -> dict:
        """``problem``, ``classes`` (name → :meth:`ClassOptimum.to_dict`), ``gaps``, ``summary``
        (sentences), ``scalar_reaches_unconstrained`` (when computed), status, and the extras."""
        out = {"problem": self.problem,
               "classes": {c: o.to_dict(arrays=arrays) for c, o in self.optima.items()},
               "gaps": self.gaps, "summary": list(self.sentences)}
        if self.scalar_reaches_unconstrained is not None:
            out["scalar_reaches_unconstrained"] = self.scalar_reaches_unconstrained
        out.update(status=self.status, converged=self.converged, message=self.message, **self.extra)
        return json_clean(out)

    def summary(self) -> str:
        """The table ``wpgd solve --class all`` prints."""
        lines = [f"{'class':<14} {'risk':>16} {'normalized':>12}  label"]
        lines += [f"{c:<14} {o.risk:>16.10g} {o.normalized_risk:>12.8f}  {o.label}"
                  for c, o in self.optima.items()]
        lines += [f"  - {line}" for line in self.sentences]
        return "\n".join(lines)


def compare_classes(problem: Problem, classes=CLASSES, *, key_width: int | None = None,
                    optima: dict | None = None) -> ClassComparison:
    """Side-by-side optima with the gaps between architectures.

    Args:
        problem: the setting.
        classes: class names, in display order.
        key_width: key width of the vector class (default: the width that reaches every ω).
        optima: class optima already computed (name → :class:`ClassOptimum`); the missing ones
            are computed.

    Returns:
        A :class:`ClassComparison`; ``to_dict()`` gives ``classes`` (name →
        :meth:`ClassOptimum.to_dict`), ``gaps`` (normalised-risk differences, e.g.
        ``linear_minus_scalar``; relative gains), ``scalar_reaches_unconstrained`` (Assumption 3 in
        its exact form: the unconstrained optimal ω is monotone up to sign) and ``summary`` (one
        sentence per gap).
    """
    given = dict(optima or {})
    optima = {c: given[c] if c in given else
              class_optimum(problem, c, key_width=key_width if c == "vector" else None) for c in classes}
    g = class_gaps(optima)
    return ClassComparison(problem.describe(), optima, g["gaps"], tuple(g["summary"]),
                           g.get("scalar_reaches_unconstrained"))


def class_gaps(optima: dict) -> dict:
    """Gaps between class optima already computed.

    Args:
        optima: class name → an object with ``normalized_risk`` and ``omega`` (a
            :class:`ClassOptimum`, or the solver's ``Optimum`` for "unconstrained").

    Returns:
        ``gaps`` (normalised-risk differences and relative gains), ``summary`` (sentences) and,
        when "unconstrained" is present, ``scalar_reaches_unconstrained``.
    """
    gaps, summary = {}, []
    names = list(optima)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = optima[a].normalized_risk - optima[b].normalized_risk
            gaps[f"{a}_minus_{b}"] = diff
    for better, worse in (("scalar", "linear"), ("vector", "scalar"), ("unconstrained", "scalar"),
                          ("geometric", "linear"), ("unconstrained", "linear")):
        if better in optima and worse in optima:
            lw, lb = optima[worse].normalized_risk, optima[better].normalized_risk
            gain = (lw - lb) / lw if lw > 0 else 0.0
            gaps[f"{better}_gain_over_{worse}"] = gain
            summary.append(
                f"{better} beats {worse} by {lw - lb:.4g} in normalised risk ({100 * gain:.3g}% relative)"
            )
    out = {"gaps": gaps, "summary": summary}
    if "unconstrained" in optima:
        mono = is_monotone(optima["unconstrained"].omega, tol=1e-7)
        out["scalar_reaches_unconstrained"] = mono
        summary.append(
            "the unconstrained optimal weights are monotone toward the query, so scalar gating "
            "with delimiters reaches the WPGD optimum (Assumption 3)"
            if mono
            else "the unconstrained optimal weights are not monotone: scalar gating cannot reach "
            "the WPGD optimum; vector gating of key width ≥ 2d can"
        )
    if "geometric" in optima:
        summary.append("geometric (fixed decay) is a reference line, not a bound for data-dependent gates")
    return out
