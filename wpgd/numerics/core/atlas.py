"""The architecture atlas: the best WPGD risk each published gated recurrence can reach on a prompt
(docs/theory.md §8, docs/atlas/).

Under the one-layer construction (key = x, value = −y, every gate map reading the token's
non-feature coordinates), each architecture realises a set of token weights ω (and
preconditioners P); :func:`architecture_optimum` is the optimum of the WPGD risk over that set.

Status: interface only (the optima land in the next commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wpgd.numerics.core.classes import ClassOptimum
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.vocabulary import (
    ARCHITECTURE_NAMES,
    ARCHITECTURES,
    ATLAS_CONTEXTS,
    WPGD_ARCHITECTURES,
)

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
    problem: Problem, name: str, *, context: str = "none", key_width: int | None = None
) -> ClassOptimum:
    """The optimal WPGD risk over the (P, ω) that architecture ``name`` realises under the one-layer
    construction on the paper's prompt (docs/theory.md §8).

    Args:
        problem: the setting.
        name: one of :data:`~wpgd.numerics.core.vocabulary.WPGD_ARCHITECTURES`.
        context: "none" (the paper's prompt: demonstrations carry no segment tag, delimiter tokens
            carry one code per boundary) or "onehot" (every demonstration also carries its segment
            one-hot; needs a segment problem).
        key_width: key width m of the vector-gated architectures (gla, rwkv6); default the width
            that realises every ω (2d for K ≥ 2 segments).

    Returns:
        A :class:`~wpgd.numerics.core.classes.ClassOptimum` with ``cls == name``,
        ``details["realised_class"]`` and ``details["closure"]`` (True when the optimum is an
        infimum approached, not attained, by finite parameters).

    Raises:
        InvalidProblemError: an unknown name, a name without a WPGD form (deltanet,
            gated-deltanet), an unknown context, or ``key_width`` for an architecture without one.
    """
    _check_name(name)
    _check_context(problem, context)
    raise NotImplementedError("architecture_optimum: interface stub (issue 15, next commit)")


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


def atlas_theory(problem: Problem, *, context: str = "none", key_width: int | None = None) -> AtlasTheory:
    """:func:`architecture_optimum` for every WPGD architecture, with the linear-attention and
    unconstrained-WPGD reference rows (:data:`REFERENCE_ROWS`)."""
    from wpgd.numerics.core.classes import class_optimum

    _check_context(problem, context)
    rows = {a: architecture_optimum(problem, a, context=context,
                                    key_width=key_width if ARCHITECTURES[a].gating == "vector" else None)
            for a in WPGD_ARCHITECTURES}
    for c in REFERENCE_ROWS:
        rows[c] = class_optimum(problem, c)
    return AtlasTheory(problem.describe(), context, rows)
