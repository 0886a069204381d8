"""A problem family of the experiments: segment sizes, Σ and task correlations as functions of n
and d (:class:`PanelSpec`; the Figure-1 and multi-layer panels are built from it in
:mod:`wpgd.numerics.experiments.experiments`, and sweep tasks rebuild a panel from its fields)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.curve import vary_problem
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.vocabulary import MODEL_KINDS

__all__ = ["PanelSpec"]


@dataclass(frozen=True)
class PanelSpec:
    """One two-segment problem family, indexed by n.

    Attributes:
        name: panel letter.
        title: plot title, in words (the parameters are printed from the spec below it).
        spectrum: "identity", "spread" (λ_j geometrically spaced over a factor 4) or "powerlaw"
            (λ_j ∝ 1/j), both scaled to tr Σ = d.
        far_fraction: share of the n demonstrations in the far segment (the rest is near).
        correlation: C, 2×2.
        query_correlation: c, (far, near).
        noise: σ².
        reversed: True when the far segment is the more correlated one.
        models: model families trained in this panel by default.
        base: a user's segment problem (:func:`spec_panel`): ``sigma``, ``segments``,
            ``correlation``, ``query_correlation``, ``query_variance``, ``noise``; the problem at n
            scales its segment sizes to sum to n (:func:`wpgd.numerics.core.curve.scaled_segments`) and
            the fields above (spectrum ... noise) are unused. None for the built-in panels.
        fractions: shares of the n demonstrations per segment, farthest first (K ≥ 3 segments);
            None = two segments split by ``far_fraction``.
    """

    name: str
    title: str
    spectrum: str = "identity"
    far_fraction: float = 0.5
    correlation: tuple = ((1.0, 0.0), (0.0, 1.0))
    query_correlation: tuple = (0.3, 0.9)
    noise: float = 0.0
    reversed: bool = False
    models: tuple = tuple(MODEL_KINDS)
    base: dict | None = None
    fractions: tuple | None = None

    def sizes(self, n: int) -> list[int]:
        """Segment sizes (far, near; or one per entry of ``fractions``) for n demonstrations, each ≥ 1."""
        if self.fractions is not None:
            k = len(self.fractions)
            if n < k:
                raise InvalidProblemError(f"a {k}-segment panel needs n ≥ {k}, got {n}")
            bounds = np.round(np.cumsum(self.fractions) / sum(self.fractions) * n).astype(int)
            bounds = np.clip(bounds, np.arange(1, k + 1), n - np.arange(k - 1, -1, -1))
            return [int(b) for b in np.diff(np.concatenate([[0], np.maximum.accumulate(bounds)]))]
        far = min(max(int(round(self.far_fraction * n)), 1), n - 1)
        return [far, n - far]

    def problem(self, n: int, d: int) -> Problem:
        """The validated problem at n demonstrations in dimension d."""
        if self.base is not None:

            b = self.base
            base = Problem.segmented(np.array(b["sigma"], dtype=np.float64), b["segments"], b["query_correlation"],
                                     correlation=b["correlation"], query_variance=b["query_variance"],
                                     noise=b["noise"])
            return vary_problem(base, "n", n)[0]
        if n < 2 and self.fractions is None:
            raise InvalidProblemError(f"a two-segment panel needs n ≥ 2, got {n}")
        if self.spectrum == "identity":
            sigma = np.eye(d)
        else:
            if self.spectrum == "spread":
                lam = 4.0 ** (np.arange(d) / max(d - 1, 1))
            elif self.spectrum == "powerlaw":
                lam = 1.0 / np.arange(1, d + 1)
            else:
                raise InvalidProblemError(f"unknown spectrum {self.spectrum!r}")
            sigma = np.diag(lam * d / lam.sum())
        return Problem.segmented(sigma, self.sizes(n), list(self.query_correlation),
                                 correlation=[list(r) for r in self.correlation], noise=self.noise)
