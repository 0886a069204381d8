"""Ball-arithmetic certificate: how many fixed points T = φ_R∘φ_Σ has, each one enclosed.

Every step is an Arb ball computation on the enclosures of :mod:`wpgd.numerics.exact.ball.spectra`
(docs/certificate.md §4):

1. *Invariant interval.* ``I' = [lo', hi']`` with lo' strictly below the lower end of the ball
   T(0) and hi' strictly above the upper end of T(∞). Since T is non-decreasing,
   ``lo' < T(γ) < hi'`` for every γ ≥ 0: every fixed point is inside, and G(x) = log T(eˣ) − x
   is > 0 at lo' and < 0 at hi'.
2. *Cells.* I' is cut into log-uniform cells [γ1, γ2] with exact endpoints; each is
   * *excluded* if ``hi T(γ2) < γ1`` or ``lo T(γ1) > γ2`` (no fixed point, by monotonicity);
   * *contracting* if ``E ≤ E_up < 1`` on the cell, *expanding* if ``E ≥ E_lo > 1``, where
     ``E = |d log T/d log γ| = |ε_R(φ_Σ(γ))|·|ε_Σ(γ)|`` is bounded by the monotone bounds of
     :meth:`~wpgd.numerics.exact.ball.measure.BallMeasure.elasticity` (μ over [lo φ_Σ(γ2), hi φ_Σ(γ1)]);
   * otherwise bisected, up to ``max_cells``; what is left is *unresolved*.
3. *Runs.* On a maximal run of adjacent contracting (expanding) cells G is strictly
   decreasing (increasing), so it has at most one root; it has exactly one iff the signs of G
   at the run's ends, proven by balls, are opposite in the right order; none if they show G
   keeps a sign. A run whose end signs are undecided is unresolved.
4. *Verdict.* No unresolved cell or run and exactly one run with a root: exactly one fixed
   point (certified; docs/conditions.md §4 then gives a unique global minimiser up to
   scaling). Two or more runs with a root: that many fixed points are *proven* (uniqueness
   fails); each is enclosed. Each root is then shrunk by bisection with proven signs, and
   E is bounded on the final bracket (the contraction bound of the cell holding the root).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import json_clean
from wpgd.numerics.core.spectra import feature_spectrum, task_spectrum
from wpgd.numerics.exact.ball._flint import bits_for_digits, flint, workprec
from wpgd.numerics.exact.ball.spectra import BallSpectra, ball_spectra

__all__ = ["BallCertificate", "FixedPointBall", "certify_arb", "scan_fixed_points"]


@dataclass(frozen=True)
class FixedPointBall:
    """One proven fixed point.

    Attributes:
        lo, hi: floats with lo ≤ γ ≤ hi (rounded outward).
        kind: "attracting" (found in a contracting run, slope < 1) or "repelling".
        slope: (lower, upper) bound of d log T/d log γ on the final bracket.
        bracket: (a, b) exact ``arb`` endpoints with proven G(a), G(b) of opposite signs.
    """

    lo: float
    hi: float
    kind: str
    slope: tuple[float, float]
    bracket: tuple = field(repr=False, compare=False, default=())

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (no arrays; ``arrays`` is accepted for the convention)."""
        return json_clean({"enclosure": [self.lo, self.hi], "kind": self.kind,
                           "slope_bounds": list(self.slope)})


@dataclass(frozen=True)
class BallCertificate:
    """Outcome of :func:`certify_arb` (attribute names shared with :class:`wpgd.numerics.Certificate`).

    Attributes:
        certified: exactly one fixed point proven on the invariant interval.
        status: "unique", "multiple" (≥ 2 fixed points proven), "unresolved", "skipped"
            (python-flint missing) or "degenerate".
        enclosure: (γ_lo, γ_hi) of the unique fixed point, or None.
        fixed_points: every proven fixed point, ascending.
        contraction_bound: max over all cells of the upper bound of E (≥ 1 possible even when
            certified, where the steep part is excluded by monotonicity).
        root_contraction: upper bound of E on the bracket of the unique fixed point, or None.
        invariant_interval: (lo', hi') as floats.
        cells: number of cells examined; counts: cells by type.
        digits: decimal digits asked for; prec: Arb working precision (bits).
        reason: why it is not certified (empty when certified).
        statement: what was proven, in words.
        data: the enclosures' summary (radii, clusters, refinements) and timings.
    """

    certified: bool
    status: str
    enclosure: tuple[float, float] | None
    fixed_points: tuple[FixedPointBall, ...]
    contraction_bound: float
    root_contraction: float | None
    invariant_interval: tuple[float, float]
    cells: int
    counts: dict
    digits: int
    prec: int
    reason: str = ""
    statement: str = ""
    data: dict = field(default_factory=dict)
    backend: str = "arb"

    @property
    def converged(self) -> bool:
        """The convention of :mod:`wpgd.numerics.core.results`: the proof went through (``certified``)."""
        return bool(self.certified)

    @property
    def message(self) -> str:
        """What was proven, or why not."""
        return self.statement if self.certified else (self.reason or self.statement)

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (no arrays; ``arrays`` is accepted for the convention)."""
        return json_clean({
            "backend": self.backend, "certified": self.certified, "status": self.status,
            "converged": self.converged, "message": self.message,
            "enclosure": None if self.enclosure is None else list(self.enclosure),
            "fixed_points": [f.to_dict() for f in self.fixed_points],
            "contraction_bound": self.contraction_bound, "root_contraction": self.root_contraction,
            "invariant_interval": list(self.invariant_interval), "cells": self.cells, "counts": dict(self.counts),
            "digits": self.digits, "prec_bits": self.prec, "reason": self.reason, "statement": self.statement,
            "data": dict(self.data),
        })


def skipped_certificate(reason: str, digits: int = 0) -> BallCertificate:
    """The certificate of a run that could not happen (never certified)."""
    return BallCertificate(False, "skipped", None, (), float("inf"), None, (0.0, 0.0), 0, {}, digits, 0,
                           reason, "nothing proven")


class _Map:
    """T and its pieces at exact points, cached."""

    def __init__(self, sp: BallSpectra):
        self.sp = sp
        self.cache = {}

    def at(self, g):
        key = g.mid().man_exp()
        hit = self.cache.get(key)
        if hit is None:
            mu = self.sp.sigma.phi(g)
            t = self.sp.task.phi(mu)
            sign = 1 if t.lower() > g else (-1 if t.upper() < g else 0)
            hit = (mu, t, sign)
            self.cache[key] = hit
        return hit

    def slope(self, g1, g2):
        """(lower, upper) bounds of E on [g1, g2]."""
        mu_hi = self.at(g1)[0].upper()
        mu_lo = self.at(g2)[0].lower()
        s_lo, s_up = self.sp.sigma.elasticity(g1, g2)
        if not mu_lo > 0:
            return 0.0, float("inf")
        r_lo, r_up = self.sp.task.elasticity(mu_lo, mu_hi)
        return float((s_lo * r_lo).lower()), float((s_up * r_up).upper())


def scan_fixed_points(sp: BallSpectra, *, initial_cells: int = 32, max_cells: int = 2000,
                      root_rel_width: float = 1e-12) -> dict:
    """Steps 1–4 of the module docstring on prepared spectra (inside ``workprec``).

    Returns:
        dict with ``roots`` (list of :class:`FixedPointBall`), ``unresolved`` (cells, runs),
        ``interval``, ``contraction_bound``, ``counts``, ``cells`` and ``map`` (the cached T).
    """
    arb = flint().arb
    T = _Map(sp)
    t0 = sp.task.phi(sp.sigma.at_zero())
    tinf = sp.task.phi(sp.sigma.at_infinity())
    lo, hi = t0.lower(), tinf.upper()
    out = {"interval": (float(lo), float(hi)), "roots": [], "unresolved": [], "counts": {}, "cells": 0,
           "contraction_bound": float("inf"), "map": T}
    if not lo > 0:
        out["reason"] = "T(0) is not proven positive (enclosures too wide)"
        return out
    lo = (lo * (1 - arb(2) ** -40)).lower()
    hi = (hi * (1 + arb(2) ** -40)).upper()
    out["interval"] = (float(lo), float(hi))
    llo, lhi = lo.log(), hi.log()
    pts = [lo] + [(llo + (lhi - llo) * k / initial_cells).exp().mid() for k in range(1, initial_cells)] + [hi]
    stack = [(pts[k], pts[k + 1]) for k in range(initial_cells)][::-1]
    done, examined = [], 0
    while stack:
        g1, g2 = stack.pop()
        examined += 1
        _, t1, _ = T.at(g1)
        _, t2, _ = T.at(g2)
        excluded = t2.upper() < g1 or t1.lower() > g2
        e_lo, e_up = T.slope(g1, g2)
        kind = "excluded" if excluded else ("contracting" if e_up < 1 else ("expanding" if e_lo > 1 else None))
        if kind is None and examined + len(stack) < max_cells:
            m = (g1 * g2).sqrt().mid()
            if g1 < m < g2:
                stack.append((m, g2))
                stack.append((g1, m))
                continue
        done.append((g1, g2, kind or "unresolved", e_up))
    out["cells"] = examined
    kinds = ("excluded", "contracting", "expanding", "unresolved")
    out["counts"] = {k: sum(1 for c in done if c[2] == k) for k in kinds}
    out["contraction_bound"] = max(c[3] for c in done)
    out["unresolved"] = [(float(c[0]), float(c[1])) for c in done if c[2] == "unresolved"]
    runs, cur = [], None
    for c in done:
        if c[2] in ("contracting", "expanding"):
            if cur is not None and cur["kind"] == c[2] and cur["b"] == c[0]:
                cur["b"], cur["e_up"] = c[1], max(cur["e_up"], c[3])
            else:
                cur = {"a": c[0], "b": c[1], "kind": c[2], "e_up": c[3]}
                runs.append(cur)
        else:
            cur = None

    def sign(g):
        if g == lo:
            return 1
        if g == hi:
            return -1
        return T.at(g)[2]

    for run in runs:
        sa, sb = sign(run["a"]), sign(run["b"])
        want = (1, -1) if run["kind"] == "contracting" else (-1, 1)
        if (sa, sb) == want:
            out["roots"].append(_shrink(T, run, sa, sb, root_rel_width, lo, hi))
        elif sa == -want[0] or sb == -want[1]:
            continue
        else:
            out["unresolved"].append((float(run["a"]), float(run["b"])))
    return out


def _shrink(T: _Map, run, sa, sb, rel, lo, hi) -> FixedPointBall:
    a, b = run["a"], run["b"]
    for _ in range(4000):
        if float(b - a) <= rel * float(b):
            break
        m = (a * b).sqrt().mid()
        if not a < m < b:
            break
        s = T.at(m)[2]
        if s == sa:
            a = m
        elif s == sb:
            b = m
        else:
            break
    e_lo, e_up = T.slope(a, b)
    kind = "attracting" if run["kind"] == "contracting" else "repelling"
    return FixedPointBall(float(a.lower()) if a != lo else float(a), float(b.upper()), kind, (e_lo, e_up), (a, b))


def certify_arb(problem: Problem, digits: int = 30, *, structured: bool | None = None, initial_cells: int = 32,
                max_cells: int = 2000, target_bits: int = 30, fast: bool | None = None,
                spectra: BallSpectra | None = None) -> BallCertificate:
    """Prove (or fail to prove) that T = φ_R∘φ_Σ has exactly one fixed point; enclose all of them.

    Args:
        problem: the setting.
        digits: decimal digits of the Arb working precision (bits = 3.33·digits + 32).
        structured: K×K segment block (default for segment problems) or dense n×n.
        initial_cells: log-uniform cells to start from.
        max_cells: budget of cells examined.
        target_bits: eigenvector refinement target (see :func:`~wpgd.numerics.exact.ball.spectra.ball_spectra`).
        fast: first try float64 midpoint–radius products (default: when d or the task block
            exceeds 100); if that leaves anything unresolved, redo with Arb products.
        spectra: precomputed :class:`~wpgd.numerics.exact.ball.spectra.BallSpectra` (same precision).

    Returns:
        A :class:`BallCertificate` (``status`` says what was proven).

    Raises:
        ArbUnavailableError: python-flint is not installed.
        InvalidProblemError: digits < 10.
    """
    import time

    from wpgd.numerics.core.solver import degeneracy

    if int(digits) != digits or digits < 10:
        raise InvalidProblemError(f"certificate precision must be an integer ≥ 10 digits, got {digits}")
    flint()
    if structured is None:
        structured = problem.is_segmented
    why = degeneracy(problem, feature_spectrum(problem), task_spectrum(problem, structured=structured))
    prec = bits_for_digits(digits)
    if why is not None:
        return BallCertificate(False, "degenerate", None, (), float("inf"), None, (0.0, 0.0), 0, {}, digits, prec,
                               f"degenerate problem: {why}", "the optimum is the zero predictor; no fixed point")
    t_start = time.perf_counter()
    if fast is None:
        size = problem.num_segments if structured else problem.n
        fast = max(problem.d, size) > 100
    with workprec(prec):
        attempts = [True, False] if fast and spectra is None else [False]
        for quick in attempts:
            sp = spectra or ball_spectra(problem, prec, structured=structured, target_bits=target_bits, fast=quick)
            t_spec = time.perf_counter() - t_start
            res = scan_fixed_points(sp, initial_cells=initial_cells, max_cells=max_cells)
            if not res["unresolved"] and "reason" not in res:
                break
    data = {**sp.summary(), "products": "float64 a priori" if quick else "arb",
            "seconds_spectra": t_spec, "seconds_total": time.perf_counter() - t_start}
    return _verdict(res, digits, prec, data)


def _verdict(res: dict, digits: int, prec: int, data: dict) -> BallCertificate:
    roots, unresolved = res["roots"], res["unresolved"]
    interval, kappa, counts, cells = res["interval"], res["contraction_bound"], res["counts"], res["cells"]
    span = f"I = [{interval[0]:.6g}, {interval[1]:.6g}]"
    cellnote = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    if "reason" in res:
        return BallCertificate(False, "unresolved", None, (), kappa, None, interval, cells, counts, digits, prec,
                               res["reason"], "nothing proven", data)
    if len(roots) == 1 and not unresolved:
        r = roots[0]
        stmt = (f"exactly one fixed point of φ_R∘φ_Σ on {span}, γ* ∈ [{r.lo:.12g}, {r.hi:.12g}] ({cells} cells: "
                f"{cellnote}); slope there ≤ {r.slope[1]:.4g}; hence a unique global minimiser up to scaling")
        return BallCertificate(True, "unique", (r.lo, r.hi), tuple(roots), kappa, r.slope[1], interval, cells, counts,
                               digits, prec, "", stmt, data)
    if len(roots) >= 2:
        encl = "; ".join(f"γ ∈ [{r.lo:.10g}, {r.hi:.10g}] ({r.kind}, slope ∈ [{r.slope[0]:.4g}, {r.slope[1]:.4g}])"
                         for r in roots)
        more = f" and {len(unresolved)} unresolved cell(s)/run(s) may hold more" if unresolved else ""
        reason = f"{len(roots)} fixed points proven{more}: {encl}"
        return BallCertificate(False, "multiple", None, tuple(roots), kappa, None, interval, cells, counts, digits,
                               prec, reason, f"at least {len(roots)} fixed points of φ_R∘φ_Σ on {span}: "
                               "uniqueness of the fixed point fails", data)
    if unresolved:
        reason = (f"{len(unresolved)} cell(s)/run(s) unresolved within the cell budget (slope too close to 1 or "
                  f"enclosures too wide), first [{unresolved[0][0]:.6g}, {unresolved[0][1]:.6g}]; "
                  f"{len(roots)} fixed point(s) proven elsewhere")
        return BallCertificate(False, "unresolved", None, tuple(roots), kappa, None, interval, cells, counts, digits,
                               prec, reason, f"{len(roots)} fixed point(s) proven; uniqueness not decided", data)
    return BallCertificate(False, "unresolved", None, (), kappa, None, interval, cells, counts, digits, prec,
                           "no fixed point proven although T maps I into itself (inconsistent enclosures)",
                           "nothing proven", data)
