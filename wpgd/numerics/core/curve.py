"""Theory risk curves: the optimum of every weight class against one varied spec parameter.

A curve is a list of problems that differ from a base problem in one parameter, and at each of
them the closed-form class optima of :func:`wpgd.numerics.core.classes.class_optimum` (linear attention,
fixed decay, scalar gating with delimiters, vector gating, unconstrained WPGD). Nothing is
trained or sampled, so a curve of a few dozen points takes about a second.

Varied parameters (``PARAMETERS``):

* ``n``: the prompt length; the segment sizes are scaled to sum to n with the base proportions
  (largest-remainder rounding, each segment ≥ 1). Where ``n·n_k/N`` is not an integer the split
  is rounded, which shows as a small sawtooth in the curve: each point records its segments and
  ``exact_split``. Segment problems only.
* ``noise``: the label-noise variance σ².
* ``query_variance``: r_q (segment problems).
* ``toeplitz``: ρ of Σ_ij = ρ^|i−j| (the base Σ must be the identity or Toeplitz).
* ``dim``: the feature dimension d (the base Σ must be the identity or Toeplitz; ρ is kept).
* ``query_correlation.K``: c_K, segment K's correlation with the query (K counts from 0, the
  farthest segment first).
* ``correlation.I.J``: C_IJ = C_JI, the correlation of segment tasks I and J (I ≠ J).
* ``segment.K``: the size of segment K alone.

Risks are reported raw (units of y²) and normalised by r_q tr Σ + σ² (1 = predicting zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wpgd.numerics.core.classes import CLASSES, class_optimum
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem

__all__ = ["PARAMETERS", "Curve", "theory_curve", "vary_problem", "scaled_segments"]

PARAMETERS = {
    "n": "prompt length n: segment sizes scaled to sum to n (largest remainder, each ≥ 1)",
    "noise": "label-noise variance σ²",
    "query_variance": "query task variance r_q",
    "toeplitz": "ρ of a Toeplitz covariance Σ_ij = ρ^|i−j| (base Σ identity or Toeplitz)",
    "dim": "feature dimension d (base Σ identity or Toeplitz, ρ kept)",
    "query_correlation.K": "c_K: segment K's correlation with the query (K from 0, farthest first)",
    "correlation.I.J": "C_IJ = C_JI: correlation of segment tasks I and J",
    "segment.K": "size of segment K (K from 0, farthest first)",
}
"""Parameter names accepted by :func:`vary_problem` (K, I, J are segment indices)."""

_INTEGER = ("n", "dim", "segment")
MAX_POINTS = 1000


def scaled_segments(sizes, n: int) -> tuple[list[int], bool]:
    """Segment sizes with the proportions of ``sizes`` summing to ``n``.

    Largest-remainder rounding of ``n·s_k/Σs``, then every segment raised to ≥ 1 (taken from the
    largest ones).

    Returns:
        (sizes, exact): ``exact`` is True when no rounding was needed.

    >>> scaled_segments([20, 20], 10)
    ([5, 5], True)
    >>> scaled_segments([30, 10], 10)
    ([8, 2], False)
    """
    sizes = [int(s) for s in sizes]
    k, total = len(sizes), sum(sizes)
    if n < k:
        raise InvalidProblemError(f"n = {n} is below the number of segments ({k}): each segment needs ≥ 1")
    exact_parts = [s * n / total for s in sizes]
    out = [int(np.floor(x)) for x in exact_parts]
    order = sorted(range(k), key=lambda i: (-(exact_parts[i] - out[i]), i))
    for i in order[: n - sum(out)]:
        out[i] += 1
    for i in range(k):
        while out[i] < 1:
            j = max(range(k), key=lambda t: out[t])
            out[j] -= 1
            out[i] += 1
    exact = all(s * n % total == 0 for s in sizes)
    return out, exact


def _toeplitz_rho(sigma: np.ndarray) -> float | None:
    """ρ if Σ is exactly the Toeplitz matrix ρ^|i−j| (identity: 0), else None."""
    d = sigma.shape[0]
    rho = float(sigma[0, 1]) if d > 1 else 0.0
    idx = np.arange(d)
    with np.errstate(under="ignore"):
        ref = rho ** np.abs(idx[:, None] - idx[None, :]).astype(np.float64) if rho != 0 else np.eye(d)
    return rho if np.allclose(sigma, ref, rtol=1e-12, atol=1e-14) else None


def _toeplitz(rho: float, d: int) -> np.ndarray:
    if not np.isfinite(rho) or abs(rho) >= 1:
        raise InvalidProblemError(f"toeplitz needs |ρ| < 1 for Σ ≻ 0, got {rho}")
    idx = np.arange(d)
    if rho == 0:
        return np.eye(d)
    with np.errstate(under="ignore"):
        return rho ** np.abs(idx[:, None] - idx[None, :]).astype(np.float64)


def _parse_name(vary: str) -> tuple[str, tuple[int, ...]]:
    head, *rest = str(vary).split(".")
    want = {"query_correlation": 1, "segment": 1, "correlation": 2}.get(head, 0)
    if (
        head not in {p.split(".")[0] for p in PARAMETERS}
        or len(rest) != want
        or not all(r.isdigit() for r in rest)
    ):
        raise InvalidProblemError(f"unknown parameter {vary!r} to vary (choose from {', '.join(PARAMETERS)})")
    return head, tuple(int(r) for r in rest)


def _check_value(head: str, value) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidProblemError(f"values of {head} must be numbers, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidProblemError(f"values of {head} must be finite, got {value}")
    if head in _INTEGER:
        if value != int(value) or value < 1:
            raise InvalidProblemError(f"values of {head} must be positive integers, got {value:g}")
        return int(value)
    return value


def vary_problem(problem: Problem, vary: str, value: float) -> tuple[Problem, dict]:
    """A copy of ``problem`` with one parameter set to ``value`` (see :data:`PARAMETERS`).

    Args:
        problem: the base problem.
        vary: parameter name, e.g. ``"n"``, ``"noise"``, ``"query_correlation.1"``.
        value: its new value (integers for n, dim, segment.K).

    Returns:
        (problem, info): ``info`` holds ``segments`` and ``exact_split`` for ``n``.

    Raises:
        InvalidProblemError: an unknown parameter, one the base problem does not have (e.g. ``n``
            of a dense problem), an index out of range, or a value giving an invalid problem
            (the problem's own message, prefixed with the parameter and value).
    """
    head, idx = _parse_name(vary)
    value = _check_value(head, value)
    info: dict = {}
    seg = problem.is_segmented
    if not seg and head not in ("noise", "toeplitz", "dim"):
        raise InvalidProblemError(
            f"varying {vary} needs a segment problem ([tasks] segments); this spec gives "
            "the joint task matrix"
        )
    k = problem.num_segments if seg else 0
    if any(i >= k for i in idx) or (head == "correlation" and idx[0] == idx[1]):
        raise InvalidProblemError(f"{vary}: segment index out of range (K = {k}; indices from 0, I ≠ J)")
    sigma, noise = problem.sigma, problem.noise
    if seg:
        sizes = list(problem.segment_sizes)
        c_mat, c_vec, r_q = (
            problem.segment_correlation.copy(),
            problem.query_correlation.copy(),
            problem.query_variance,
        )
    if head in ("toeplitz", "dim"):
        rho = _toeplitz_rho(np.asarray(problem.sigma))
        if rho is None:
            raise InvalidProblemError(f"varying {head} needs an identity or Toeplitz covariance in the spec")
        sigma = _toeplitz(value, problem.d) if head == "toeplitz" else _toeplitz(rho, value)
    elif head == "noise":
        noise = value
    elif head == "n":
        sizes, info["exact_split"] = scaled_segments(sizes, value)
    elif head == "segment":
        sizes[idx[0]] = value
    elif head == "query_variance":
        r_q = value
    elif head == "query_correlation":
        c_vec[idx[0]] = value
    elif head == "correlation":
        c_mat[idx[0], idx[1]] = c_mat[idx[1], idx[0]] = value
    try:
        if not seg:
            return Problem.dense(sigma, problem.task_matrix, noise), info
        out = Problem.segmented(sigma, sizes, c_vec, correlation=c_mat, query_variance=r_q, noise=noise)
    except InvalidProblemError as exc:
        raise InvalidProblemError(f"at {vary} = {value:g}: {exc}") from None
    info["segments"] = list(out.segment_sizes)
    return out, info


@dataclass(frozen=True)
class Curve:
    """Class optima along one varied parameter.

    Attributes:
        vary: the varied parameter (a :data:`PARAMETERS` name).
        values: its values, ascending, shape (m,).
        classes: class names, in the order given.
        risk: {class: raw optimal risks, shape (m,)}.
        normalized_risk: {class: risk / (r_q tr Σ + σ²) at each point, shape (m,)}.
        points: per point {"value", "n", "d", "null_risk", "segments"?, "exact_split"?}.
        base: ``Problem.describe()`` of the base problem.
        notes: caveats (e.g. rounded segment splits).
    """

    vary: str
    values: list
    classes: tuple
    risk: dict
    normalized_risk: dict
    points: list
    base: dict
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-serialisable dict (what ``wpgd curve --json`` prints)."""
        return {
            "vary": self.vary,
            "values": list(self.values),
            "classes": list(self.classes),
            "risk": {c: list(v) for c, v in self.risk.items()},
            "normalized_risk": {c: list(v) for c, v in self.normalized_risk.items()},
            "points": self.points,
            "base": self.base,
            "notes": list(self.notes),
        }

    def table(self) -> str:
        """Plain-text table: one row per value, one normalised-risk column per class."""
        width = max(12, len(self.vary) + 1)
        head = f"{self.vary:<{width}}" + "".join(f"{c:>15}" for c in self.classes)
        show = self.vary.split(".")[0] in ("n", "segment")
        if show:
            head += "  segments"
        lines = [head]
        for i, v in enumerate(self.values):
            row = f"{v:<{width}.6g}" + "".join(f"{self.normalized_risk[c][i]:>15.8f}" for c in self.classes)
            p = self.points[i]
            if show:
                row += (
                    "  "
                    + " ".join(map(str, p["segments"]))
                    + ("" if p.get("exact_split", True) else " (rounded)")
                )
            lines.append(row)
        return "\n".join(lines)


def theory_curve(
    problem: Problem, vary: str, values, classes=CLASSES, *, key_width: int | None = None
) -> Curve:
    """Optimal risk of each weight class at each value of one parameter.

    Args:
        problem: the base problem (e.g. ``wpgd.numerics.core.spec.load_spec("spec.toml")``).
        vary: the parameter to vary (:data:`PARAMETERS`).
        values: its values (distinct; sorted ascending in the result).
        classes: names from :data:`wpgd.numerics.core.classes.CLASSES`.
        key_width: key width of the vector class (default: the width reaching the optimum).

    Returns:
        A :class:`Curve`; point i of class c equals ``class_optimum(vary_problem(problem, vary,
        values[i])[0], c)``.

    Raises:
        InvalidProblemError: bad parameter, values or classes; a value giving an invalid problem.
        SolverError: a class optimum that cannot be computed (from :func:`class_optimum`).

    >>> pr = Problem.segmented(np.eye(3), [10, 10], [0.3, 0.9])
    >>> cv = theory_curve(pr, "n", [10, 20, 40], classes=("linear", "scalar"))
    >>> all(s <= l for s, l in zip(cv.normalized_risk["scalar"], cv.normalized_risk["linear"]))
    True
    """
    vals = list(values)
    if not vals:
        raise InvalidProblemError("a curve needs at least one value")
    if len(vals) > MAX_POINTS:
        raise InvalidProblemError(f"at most {MAX_POINTS} values per curve, got {len(vals)}")
    head, _ = _parse_name(vary)
    vals = [_check_value(head, v) for v in vals]
    if len(set(vals)) != len(vals):
        raise InvalidProblemError(f"values of {vary} repeat: give each once")
    vals.sort()
    classes = tuple(classes)
    bad = [c for c in classes if c not in CLASSES]
    if bad or not classes:
        raise InvalidProblemError(
            f"unknown class(es) {', '.join(map(repr, bad)) or '(none given)'} "
            f"(choose from {', '.join(CLASSES)})"
        )
    if len(set(classes)) != len(classes):
        raise InvalidProblemError("classes repeat: give each once")
    risk: dict = {c: [] for c in classes}
    norm: dict = {c: [] for c in classes}
    points = []
    for v in vals:
        pr, info = vary_problem(problem, vary, v)
        points.append({"value": v, "n": pr.n, "d": pr.d, "null_risk": pr.null_risk, **info})
        for c in classes:
            opt = class_optimum(pr, c, key_width=key_width if c == "vector" else None)
            risk[c].append(float(opt.risk))
            norm[c].append(float(opt.normalized_risk))
    notes = []
    rounded = [p["value"] for p in points if p.get("exact_split") is False]
    if rounded:
        notes.append(
            f"segment split rounded at n = {', '.join(f'{v:g}' for v in rounded)} (largest remainder): "
            "the curve has a small sawtooth there"
        )
    return Curve(
        vary=vary,
        values=vals,
        classes=classes,
        risk=risk,
        normalized_risk=norm,
        points=points,
        base=problem.describe(),
        notes=notes,
    )
