"""Which theory optimum each trainable model is compared with (docs/theory.md §2, §5).

================  ========================  ===============================================
model             token format              theory references (first one = the gap's target)
================  ========================  ===============================================
linear            no delimiters             ``linear``: ω ∝ 1
scalar            boundary delimiters          ``scalar``: ω ≥ 0 non-decreasing toward the query
scalar-nodelim    no delimiters             ``geometric`` (fixed decay ω_i = g^{n−i}: a
                                            reference line, *not* a bound) and ``scalar``
vector            boundary delimiters          ``vector`` (at the model's key width) and
                                            ``unconstrained``
================  ========================  ===============================================

The optima come from ``numerics.classes.class_optimum`` (whose ``unconstrained`` class is
``numerics.solver.solve``), imported lazily.
Every risk is the population risk of the WPGD predictor with the label read-out, the same units
as the trained model's held-out squared error (raw; ``normalized`` divides by ``null_risk``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import WPGDError
from .problem import Problem

__all__ = ["MODEL_KINDS", "ModelKind", "Reference", "theory_references", "class_risk"]


@dataclass(frozen=True)
class ModelKind:
    """A trainable model family.

    Attributes:
        name: CLI name.
        gating: ``GLAModel`` gating ("none", "scalar", "vector").
        delimiter: default delimiter encoding of its prompts ("none" or "boundary": one code
            per segment boundary, so that a gate can weight every segment on its own;
            ``numerics.prompts``).
        classes: theory classes to report, the first being the one the gap is measured to.
    """

    name: str
    gating: str
    delimiter: str
    classes: tuple[str, ...]


MODEL_KINDS = {
    "linear": ModelKind("linear", "none", "none", ("linear",)),
    "scalar": ModelKind("scalar", "scalar", "boundary", ("scalar",)),
    "scalar-nodelim": ModelKind("scalar-nodelim", "scalar", "none", ("geometric", "scalar")),
    "vector": ModelKind("vector", "vector", "boundary", ("vector", "unconstrained")),
}
"""The four model families of the Figure-1 experiment, by CLI name."""


@dataclass(frozen=True)
class Reference:
    """One theory optimum.

    Attributes:
        cls: class name ("linear", "scalar", "geometric", "vector", "unconstrained").
        label: human-readable label.
        risk: raw population risk of the class optimum.
        normalized: risk / null_risk.
        P: the optimal preconditioner, shape (d, d) (paired with ``omega``), or None.
        omega: the optimal weights, shape (n,), or None.
    """

    cls: str
    label: str
    risk: float
    normalized: float
    P: np.ndarray | None = None
    omega: np.ndarray | None = None

    def to_dict(self) -> dict:
        """JSON-serialisable dict (weights omitted)."""
        return {"class": self.cls, "label": self.label, "risk": self.risk, "normalized_risk": self.normalized}


_LABELS = {
    "linear": "linear attention optimum (ω ∝ 1)",
    "scalar": "scalar-gating optimum (ω ≥ 0 non-decreasing)",
    "geometric": "fixed-decay optimum (ω_i = g^(n−i), reference line)",
    "vector": "vector-gating optimum",
    "unconstrained": "unconstrained WPGD optimum",
}


def class_risk(problem: Problem, cls: str, key_width: int | None = None) -> Reference:
    """Theory optimum of one class.

    Args:
        problem: the setting.
        cls: "linear", "scalar", "geometric", "vector" or "unconstrained".
        key_width: key width of the vector-gated model (passed on when the solver accepts it).

    Returns:
        A :class:`Reference`.

    Raises:
        ImportError: the theory module is not available.
        WPGDError: the class optimum could not be computed.
    """
    from .classes import class_optimum

    res = class_optimum(problem, cls, key_width=key_width if cls == "vector" else None)
    risk = float(res.risk)
    label = _LABELS[cls]
    if cls == "vector" and key_width is not None:
        label += f" (key width {key_width})"
    return Reference(cls, label, risk, risk / problem.null_risk,
                     np.asarray(res.P, dtype=np.float64), np.asarray(res.omega, dtype=np.float64))


def theory_references(problem: Problem, model: str, key_width: int | None = None) -> tuple[list[Reference], list[str]]:
    """The theory optima a trained model of family ``model`` is reported against.

    Returns:
        (references in :data:`MODEL_KINDS` order, notes on references that could not be computed).
    """
    refs, notes = [], []
    for cls in MODEL_KINDS[model].classes:
        try:
            refs.append(class_risk(problem, cls, key_width))
        except (ImportError, WPGDError) as exc:
            notes.append(f"{cls} optimum unavailable: {exc}")
    return refs, notes
