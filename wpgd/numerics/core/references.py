"""Which theory optimum each trainable model is compared with (docs/theory.md §2, §5).

================  ========================  ===============================================
model             token format              theory references (first one = the gap's target)
================  ========================  ===============================================
linear            no delimiters             ``linear``: ω ∝ 1
scalar            boundary delimiters       ``scalar``: ω ≥ 0 non-decreasing toward the query
scalar-nodelim    no delimiters             ``geometric`` (fixed decay ω_i = g^{n−i}: a
                                            reference line, *not* a bound) and ``scalar``
vector            boundary delimiters       ``vector`` (at the model's key width) and
                                            ``unconstrained``
================  ========================  ===============================================

The model families and the class labels are :mod:`wpgd.numerics.core.vocabulary`'s (``MODEL_KINDS`` and
``ModelKind`` are re-exported here). The optima come from ``wpgd.numerics.core.classes.class_optimum``
(whose ``unconstrained`` class is ``wpgd.numerics.core.solver.solve``), imported lazily.
Every risk is the population risk of the WPGD predictor with the label read-out, the same units
as the trained model's held-out squared error (raw; ``normalized`` divides by ``null_risk``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.errors import WPGDError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import json_clean
from wpgd.numerics.core.vocabulary import MODEL_KINDS, WEIGHT_CLASSES, ModelKind

__all__ = ["MODEL_KINDS", "ModelKind", "Reference", "theory_references", "class_risk", "weights_change_sign",
           "vector_weights_change_sign", "one_signed_risk", "one_signed_excess"]


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

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (P and ω only with ``arrays``)."""
        out = {"class": self.cls, "label": self.label, "risk": self.risk, "normalized_risk": self.normalized}
        if arrays:
            out.update(P=self.P, omega=self.omega)
        return json_clean(out)


def weights_change_sign(omega) -> bool | None:
    """Whether optimal weights ``omega`` take both signs (entries beyond 10⁻⁹ of the largest
    magnitude on each side); None when the reference has no weights. A vector-gated model reaches
    such weights only as the difference of two groups of key channels of opposite sign
    (docs/training.md, "Vector models")."""
    if omega is None:
        return None
    w = np.asarray(omega, dtype=np.float64)
    tol = 1e-9 * float(np.max(np.abs(w))) if w.size else 0.0
    return bool(np.any(w > tol) and np.any(w < -tol))


def vector_weights_change_sign(problem: Problem) -> bool:
    """Whether the vector class optimum's weights (ω of the unconstrained WPGD optimum, which a
    vector GLA of key width ≥ 2d reaches) take both signs (:func:`weights_change_sign`). The
    trainer's ``sign_change_start`` is decided by it and :func:`one_signed_excess`.

    Raises:
        WPGDError: the optimum could not be computed.
    """
    from wpgd.numerics.core.classes import class_optimum

    return bool(weights_change_sign(class_optimum(problem, "vector").omega))


def one_signed_risk(problem: Problem) -> float:
    """The optimal WPGD risk over one-signed weights (ω ≥ 0 or ω ≤ 0, of any shape; P of rank
    ≤ d): ``weighting.cone_optimum`` over the "nonneg" cone. What a vector GLA can still reach
    after losing one of the two channel groups that a sign change needs.

    Raises:
        WPGDError: the optimum could not be computed.
    """
    from wpgd.numerics.core.weighting import cone_optimum

    fixed, *_ = cone_optimum(problem, "nonneg", problem.d)
    return float(fixed.risk)


def one_signed_excess(problem: Problem) -> float:
    """How much the sign change buys: ``(R₁ − R_v) / R_v``, with ``R_v`` the vector class
    optimum's risk and ``R₁`` :func:`one_signed_risk`. 0 when the vector optimum's weights are
    one-signed (up to the two solvers' tolerances, clipped at 0). The trainer's
    ``sign_change_start`` "auto" applies that start only when this is at least
    ``train_config.SIGN_CHANGE_MATERIAL``.

    Raises:
        WPGDError: an optimum could not be computed.
    """
    from wpgd.numerics.core.classes import class_optimum

    vector = float(class_optimum(problem, "vector").risk)
    return max(one_signed_risk(problem) / vector - 1.0, 0.0)


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
    from wpgd.numerics.core.classes import class_optimum

    res = class_optimum(problem, cls, key_width=key_width if cls == "vector" else None)
    risk = float(res.risk)
    label = WEIGHT_CLASSES[cls].reference_label
    if cls == "vector" and key_width is not None:
        label += f" (key width {key_width})"
    return Reference(cls, label, risk, risk / problem.null_risk,
                     np.asarray(res.P, dtype=np.float64), np.asarray(res.omega, dtype=np.float64))


SHARED_DELIMITER_NOTE = (
    "K ≥ 3 segments with one shared delimiter token: the scalar and vector class optima assume one "
    "delimiter code per boundary (docs/theory.md §2.3, §2.5); a shared delimiter gives every boundary the "
    "same gate, which realises only geometric segment weights (and vector gating needs K·d key channels), "
    "so these optima are lower bounds the model need not reach"
)
"""Said beside the references of a model with delimiters on a prompt of three or more segments."""


def theory_references(problem: Problem, model: str, key_width: int | None = None,
                      delimiter: str | None = None) -> tuple[list[Reference], list[str]]:
    """The theory optima a trained model of family ``model`` is reported against.

    The class optima of ``scalar`` and ``vector`` assume one delimiter code per boundary, which
    is the gated families' default ("boundary"). The alternative delimiters ("flag" or "label")
    are one shared token, which for K ≥ 3 segments
    realises a smaller class (docs/theory.md §2.3): the references are then lower bounds, and
    :data:`SHARED_DELIMITER_NOTE` says so in the notes. For K ≤ 2 both codings realise the same
    weights and the references are the class optima of the model.

    Args:
        problem: the setting.
        model: a family of :data:`MODEL_KINDS`.
        key_width: the vector-gated model's key width.
        delimiter: the delimiter encoding of the model's prompts ("none", "boundary", "flag",
            "label"); None = the family's default.

    Returns:
        (references in :data:`MODEL_KINDS` order, notes on references that could not be computed
        or are not attainable by the model).
    """
    refs, notes = [], []
    kind = MODEL_KINDS[model]
    for cls in kind.classes:
        try:
            refs.append(class_risk(problem, cls, key_width))
        except (ImportError, WPGDError) as exc:
            notes.append(f"{cls} optimum unavailable: {exc}")
    delim = kind.delimiter if delimiter is None else delimiter
    if (problem.num_segments or 1) >= 3 and delim in ("flag", "label") and {"scalar", "vector"} & set(kind.classes):
        notes.append(SHARED_DELIMITER_NOTE)
    return refs, notes
