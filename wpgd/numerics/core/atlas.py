"""The architecture atlas: the best WPGD risk each published gated recurrence can reach on a prompt
(docs/theory.md §8, docs/atlas/).

Under the one-layer construction (key = x, value = −y, every gate map reading the token's
non-feature coordinates), each architecture realises a set of token weights ω (and
preconditioners P); :func:`architecture_optimum` is the optimum of the WPGD risk over that set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from wpgd.numerics.core.atlas_params import RETNET_DECAY, head_weights, token_layout, weights_from_parameters
from wpgd.numerics.core.atlas_span import geometric_groups_optimum, span_optimum
from wpgd.numerics.core.classes import ClassOptimum, class_optimum
from wpgd.numerics.core.errors import InvalidProblemError, SolverError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.vocabulary import (
    ARCHITECTURE_NAMES,
    ARCHITECTURES,
    ATLAS_CONTEXTS,
    WPGD_ARCHITECTURES,
)
from wpgd.numerics.core.weighting import best_for_weights, cone_optimum

__all__ = ["AtlasTheory", "architecture_optimum", "atlas_theory"]

REFERENCE_ROWS = ("linear", "unconstrained")
"""The reference classes every atlas table carries beside the architectures."""


def _check_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise InvalidProblemError(f"architecture must be one of {', '.join(ARCHITECTURE_NAMES)}, got {name!r}")
    if not ARCHITECTURES[name].wpgd_form:
        raise InvalidProblemError(
            f"{name} has no WPGD form (its delta-rule update multiplies the state by I − β k kᵀ, which "
            f"depends on the features): it has no class optimum, only a trained risk; WPGD architectures: "
            f"{', '.join(WPGD_ARCHITECTURES)}"
        )


def _check_context(problem: Problem, context: str) -> None:
    if context not in ATLAS_CONTEXTS:
        raise InvalidProblemError(f"context must be one of {', '.join(ATLAS_CONTEXTS)}, got {context!r}")
    if context == "onehot" and not problem.is_segmented:
        raise InvalidProblemError("context 'onehot' tags each demonstration with its segment: it needs a segment problem")


def architecture_optimum(
    problem: Problem, name: str, *, context: str = "none", key_width: int | None = None, heads: int = 1
) -> ClassOptimum:
    """The optimal WPGD risk over the (P, ω) that architecture ``name`` realises under the one-layer
    construction on the paper's prompt (docs/theory.md §8).

    Realised classes (one head; segment problems, delimiters with one code per boundary):

    ========  =========================================  ===========================================
    name      context "none"                             context "onehot"
    ========  =========================================  ===========================================
    retnet    one fixed ω (γ_0 = 1 − 2^−5): P only        the same
    mamba2    scalar class (closure)                     non-negative ω (closure, needs A → 0)
    gla       vector class of key width m (closure)      the same
    rwkv6     vector class of key width m (closure)      the same
    mlstm     scalar class (closure)                     non-negative ω (closure, needs f → 1)
    ========  =========================================  ===========================================

    Dense problems (no segments, no delimiters): retnet one fixed geometric ω; mamba2 and mlstm
    the geometric class ω_i = r^{n−i}; gla and rwkv6 at most two geometric channel groups
    (ω = c_1 r_1^{n−i} + c_2 r_2^{n−i}, rank P ≤ ⌊m/2⌋, default m = 2d; or one group with
    rank P ≤ m): three or more groups of lower rank are not searched (``details["exact"]``).

    Args:
        problem: the setting.
        name: one of :data:`~wpgd.numerics.core.vocabulary.WPGD_ARCHITECTURES`.
        context: "none" (the paper's prompt: demonstrations carry no segment tag, delimiter tokens
            carry one code per boundary) or "onehot" (every demonstration also carries its segment
            one-hot; needs a segment problem).
        key_width: key width m of the vector-gated architectures (gla, rwkv6); default the width
            that realises every ω (2d for K ≥ 2 segments).
        heads: H heads whose key and query maps agree up to scale (one P), read out as a sum
            (docs/theory.md §8.3): retnet the span of the H fixed decays; mamba2 and mlstm with
            H ≥ 2 unconstrained WPGD on segment prompts (closure), two geometric heads on dense
            ones; gla and rwkv6 unchanged (heads split the key width m).

    Returns:
        A :class:`~wpgd.numerics.core.classes.ClassOptimum` with ``cls == name``,
        ``details["realised_class"]`` and ``details["closure"]`` (True when the optimum is an
        infimum approached, not attained, by finite parameters).

    Raises:
        InvalidProblemError: an unknown name, a name without a WPGD form (deltanet,
            gated-deltanet), an unknown context, ``key_width`` for an architecture without one,
            or ``heads`` outside [1, 64].
        SolverError: an optimum that cannot be computed in float64.

    >>> import numpy as np
    >>> pr = Problem.segmented(np.eye(2), [3, 3], [0.2, 0.8], noise=0.1)
    >>> m2 = architecture_optimum(pr, "mamba2").details["realised_class"]
    >>> m2_onehot = architecture_optimum(pr, "mamba2", context="onehot").details["realised_class"]
    >>> m2, m2_onehot
    ('scalar', 'nonneg')
    """
    _check_name(name)
    _check_context(problem, context)
    arch = ARCHITECTURES[name]
    if key_width is not None and arch.gating != "vector":
        raise InvalidProblemError(f"key_width applies to the vector-gated architectures only, not {name}")
    if key_width is not None and key_width < 1:
        raise InvalidProblemError(f"key_width must be ≥ 1, got {key_width}")
    if isinstance(heads, bool) or not isinstance(heads, (int, np.integer)) or not 1 <= heads <= 64:
        raise InvalidProblemError(f"heads must be an integer in [1, 64], got {heads!r}")
    heads = int(heads)
    if name == "retnet":
        res = _guarded(problem, name, lambda pr: _retnet(pr, heads))
    elif arch.gating == "scalar":
        res = _guarded(problem, name, lambda pr: _scalar_decay(pr, name, context, heads))
    else:
        res = _guarded(problem, name, lambda pr: _vector_decay(pr, name, context, key_width))
    details = {"architecture": arch.label, "reference": arch.reference, "context": context, "heads": heads,
               **res.details}
    return replace(res, cls=name, details=details)


def _guarded(problem: Problem, name: str, compute) -> ClassOptimum:
    """``compute(problem)`` on a rescaled problem when its scales are extreme, with the float64
    failures turned into :class:`SolverError` (as :func:`~wpgd.numerics.core.classes.class_optimum`)."""
    from wpgd.numerics.core.solver import SCALE_EXPONENT, _ldexp_checked

    e_s, e_t = problem.scale_exponents()
    if max(abs(e_s), abs(e_t)) > SCALE_EXPONENT:
        res = _guarded(problem.rescaled(e_s, e_t), name, compute)
        return replace(res, risk=_ldexp_checked(res.risk, e_s + e_t, "the risk"),
                       P=_ldexp_checked(res.P, -e_s, "P*"), details=dict(res.details, rescaled_by=[e_s, e_t]))
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            res = compute(problem)
    except (FloatingPointError, ValueError, ZeroDivisionError, np.linalg.LinAlgError) as exc:
        if isinstance(exc, InvalidProblemError):
            raise
        raise SolverError(f"the {name} optimum cannot be computed in float64 for this problem "
                          f"({type(exc).__name__}: {str(exc)[:80]})") from None
    if not (np.isfinite(res.risk) and np.all(np.isfinite(res.P)) and np.all(np.isfinite(res.omega))):
        raise SolverError(f"the {name} optimum is not finite in float64 for this problem")
    return res


def _optimum(problem: Problem, fixed, omega, label: str, details: dict) -> ClassOptimum:
    return ClassOptimum(cls="", risk=float(fixed.risk), normalized_risk=float(fixed.risk / problem.null_risk),
                        P=np.asarray(fixed.P), omega=np.asarray(omega), label=label, details=details)


def _retnet(problem: Problem, heads: int) -> ClassOptimum:
    layout = token_layout(problem)
    if heads == 1:
        omega = weights_from_parameters("retnet", layout, np.zeros(0))
        fixed = best_for_weights(problem, omega)
        return _optimum(problem, fixed, omega,
                        "RetNet, 1 head: fixed ω_i = γ^(T−t_i), γ = 1 − 2^−5, delimiters counted; P optimal",
                        {"realised_class": "fixed-geometric", "closure": False, "decay": RETNET_DECAY,
                         "gamma": fixed.gamma})
    basis = np.stack([head_weights("retnet", layout, np.zeros(0), h) for h in range(heads)], axis=1)
    fixed, omega, c, mu = span_optimum(problem, basis)
    return _optimum(problem, fixed, omega,
                    f"RetNet, {heads} heads sharing P: ω in the span of γ_h^(T−t_i), γ_h = 1 − 2^(−5−h)",
                    {"realised_class": "fixed-span", "closure": False,
                     "decays": [1.0 - 2.0 ** (-5 - h) for h in range(heads)],
                     "coefficients": np.asarray(c).tolist(), "gamma": fixed.gamma, "mu": mu})


def _scalar_decay(problem: Problem, name: str, context: str, heads: int) -> ClassOptimum:
    what = "Δ" if name == "mamba2" else "the input gate"
    label = ARCHITECTURES[name].label
    if heads > 1:
        if problem.is_segmented:  # ω = u − v with u, v monotone: every piecewise-constant ω (§8.3)
            res = class_optimum(problem, "unconstrained")
            return replace(res, label=f"{label}, {heads} heads sharing P: unconstrained WPGD (closure; ω = Σ_h c_h "
                                      "ω^(h), two monotone heads give any ω)",
                           details=dict(res.details, realised_class="unconstrained", closure=True))
        res = geometric_groups_optimum(problem, problem.d, problem.d)
        return replace(res, label=f"{label}, {heads} heads sharing P, no delimiters: ω = c_1 r_1^(n−i) + "
                                  f"c_2 r_2^(n−i){'' if heads == 2 else ' (more heads not searched)'}",
                       details=dict(res.details, exact=heads == 2))
    if not problem.is_segmented:
        res = class_optimum(problem, "geometric")
        g = float(res.details["decay"])
        return replace(res, label=f"{ARCHITECTURES[name].label}, 1 head, no delimiters: geometric ω_i = r^(n−i), "
                                  f"r ∈ (0, 1) ({what} is a global scale)",
                       details=dict(res.details, realised_class="geometric", closure=g in (0.0, 1.0),
                                    reference_line_not_a_bound=False))
    if context == "none":
        res = class_optimum(problem, "scalar")
        return replace(res, label=f"{ARCHITECTURES[name].label}, 1 head: the scalar class (closure; {what} only "
                                  "scales ω globally)",
                       details=dict(res.details, realised_class="scalar", closure=True))
    fixed, omega, w, mu = cone_optimum(problem, "nonneg")
    limit = "A → 0" if name == "mamba2" else "forget gates → 1"
    return _optimum(problem, fixed, omega,
                    f"{ARCHITECTURES[name].label}, 1 head, segment one-hot: ω ≥ 0 (closure: {what} free per "
                    f"segment, needs {limit})",
                    {"realised_class": "nonneg", "closure": True, "gamma": fixed.gamma, "mu": mu,
                     "segment_weights": np.asarray(w).tolist()})


def _vector_decay(problem: Problem, name: str, context: str, key_width: int | None) -> ClassOptimum:
    label = ARCHITECTURES[name].label
    if problem.is_segmented:
        res = class_optimum(problem, "vector", key_width=key_width)
        return replace(res, label=f"{label}: {res.label} (closure)",
                       details=dict(res.details, realised_class="vector", closure=True))
    m = 2 * problem.d if key_width is None else int(key_width)
    res = geometric_groups_optimum(problem, min(m, problem.d), min(m // 2, problem.d))
    return replace(res, label=f"{label}, no delimiters: ω = c_1 r_1^(n−i) + c_2 r_2^(n−i), rank P ≤ ⌊m/2⌋ "
                              f"(m = {m}; ≥ 3 channel groups of lower rank not searched)",
                   details=dict(res.details, key_width=m, exact=m < 3))


@dataclass(frozen=True, repr=False)
class AtlasTheory(Result):
    """Every WPGD architecture's optimum with the linear and unconstrained reference rows.

    Attributes:
        problem: the problem's description (:meth:`Problem.describe`).
        context: the prompt context ("none" or "onehot").
        rows: name → :class:`~wpgd.numerics.core.classes.ClassOptimum`, the architectures in
            :data:`~wpgd.numerics.core.vocabulary.WPGD_ARCHITECTURES` order, then "linear" and
            "unconstrained".
        extra: further JSON-serialisable entries.
    """

    problem: dict
    context: str
    rows: dict
    extra: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        bad = [o.status for o in self.rows.values() if not o.converged]
        return bad[0] if bad else "converged"

    @property
    def converged(self) -> bool:
        return all(o.converged for o in self.rows.values())

    @property
    def message(self) -> str:
        bad = [f"{c}: {o.message}" for c, o in self.rows.items() if not o.converged]
        return "; ".join(bad) if bad else f"{len(self.rows)} optima computed"

    def to_dict(self, arrays: bool = False) -> dict:
        """``problem``, ``context``, ``rows`` (name → :meth:`ClassOptimum.to_dict`, each with
        ``normalized_risk``), status, and the extras."""
        out = {"problem": self.problem, "context": self.context,
               "rows": {c: o.to_dict(arrays=arrays) for c, o in self.rows.items()},
               "status": self.status, "converged": self.converged, "message": self.message, **self.extra}
        return json_clean(out)

    def summary(self) -> str:
        """One line per row: name, normalised risk, caption."""
        lines = [f"{'architecture':<14} {'normalized':>12}  class"]
        lines += [f"{c:<14} {o.normalized_risk:>12.8f}  {o.label}" for c, o in self.rows.items()]
        return "\n".join(lines)


def atlas_theory(problem: Problem, *, context: str = "none", key_width: int | None = None,
                 heads: int = 1) -> AtlasTheory:
    """:func:`architecture_optimum` for every WPGD architecture (same ``context``, ``heads``; the
    ``key_width`` for gla and rwkv6), with the linear-attention and unconstrained-WPGD reference
    rows (:data:`REFERENCE_ROWS`)."""
    _check_context(problem, context)
    rows = {a: architecture_optimum(problem, a, context=context, heads=heads,
                                    key_width=key_width if ARCHITECTURES[a].gating == "vector" else None)
            for a in WPGD_ARCHITECTURES}
    for c in REFERENCE_ROWS:
        rows[c] = class_optimum(problem, c)
    return AtlasTheory(problem.describe(), context, rows)
