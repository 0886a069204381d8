"""Interval-arithmetic certificate that T = φ_R∘φ_Σ has exactly one fixed point (mpmath.iv).

Inputs are the high-precision spectra of :func:`wpgd.numerics.exact.highprec.mp_spectra`, each atom and
mass enclosed in an interval of relative radius ``η = max(10^(−digits/2), 10³·residual)``
(the eigen-residual is computed, not assumed). On that data every statement below is rigorous
(outward-rounded interval arithmetic):

1. *Invariant interval.* I = [lo T(0), hi T(∞)] contains every fixed point (T is increasing).
2. *Cells.* I is cut into log-uniform cells [γ1, γ2] (point endpoints). For each cell:
   * *excluded* if ``hi T(γ2) < γ1`` or ``lo T(γ1) > γ2`` (no fixed point, by monotonicity);
   * *contracting* if an upper bound of E = |d log T/d log γ| over the cell is < 1. The bound
     uses monotonicity of every piece: ``|ε(t)| = t S(t)/(A(t)B(t))`` with
     ``S = Σ_jk w_j w_k (e_j−e_k)²/((e_j+t)³(e_k+t)³)``, A, B, S decreasing in t, so
     ``|ε| ≤ t2 S(t1)/(A(t2) B(t2))`` on [t1, t2]; μ ranges over [φ_Σ(γ2), φ_Σ(γ1)].
   * otherwise bisected (up to a cell budget).
3. *Verdict.* If every cell is excluded or contracting, G(x) = log T(eˣ) − x is strictly
   decreasing on each run of contracting cells, so each run holds at most one fixed point; a run
   can hold one only if G ≥ 0 is possible at its left end and G ≤ 0 at its right end. Exactly one
   such run ⇒ exactly one fixed point (existence: T maps I into itself). The fixed point is then
   enclosed by bisection to ``[γ_a, γ_b]`` with G(γ_a) > 0 > G(γ_b) proven.
4. *Contraction bound.* The maximum of the cell bounds over all of I (excluded cells included)
   is reported; < 1 means T is a contraction of I in the log metric (Banach).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath as mp

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.exact.highprec import MPSpectra, mp_phi_parts, mp_spectra

__all__ = ["Certificate", "certify"]

iv = mp.iv


@dataclass(frozen=True)
class Certificate(Result):
    """Outcome of :func:`certify` (result conventions: :mod:`wpgd.numerics.core.results`).

    ``status`` is "unique" (proven) or "unresolved" (not proven; this backend never proves
    several fixed points); ``converged`` is ``certified``; ``message`` says what was proven or why not.

    Attributes:
        certified: exactly one fixed point proven on the invariant interval.
        enclosure: (γ_a, γ_b) proven to contain it (floats rounded outward), or None.
        contraction_bound: rigorous upper bound of sup_I |d log T/d log γ| (may be ≥ 1 even
            when certified, if the steep part of T is excluded by monotonicity).
        invariant_interval: enclosure of I, floats.
        cells: number of cells examined.
        digits: working precision.
        reason: why it failed (empty when certified).
        data: extra diagnostics.
    """

    certified: bool
    enclosure: tuple[float, float] | None
    contraction_bound: float
    invariant_interval: tuple[float, float]
    cells: int
    digits: int
    reason: str = ""
    data: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "unique" if self.certified else "unresolved"

    @property
    def converged(self) -> bool:
        return bool(self.certified)

    @property
    def message(self) -> str:
        if not self.certified:
            return self.reason
        a, b = self.enclosure
        return f"exactly one fixed point, γ* ∈ [{a:.12g}, {b:.12g}]"

    def summary(self) -> str:
        """One line: certified or not, and why."""
        return f"certified        {'yes' if self.certified else 'no'}: {self.message}"

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-serialisable dict (no arrays; ``arrays`` is accepted for the convention)."""
        return json_clean({
            "certified": self.certified, "status": self.status, "converged": self.converged,
            "message": self.message, "enclosure": None if self.enclosure is None else list(self.enclosure),
            "contraction_bound": self.contraction_bound, "invariant_interval": list(self.invariant_interval),
            "cells": self.cells, "digits": self.digits, "reason": self.reason, "data": dict(self.data),
        })


def _lo(x):
    return mp.mpf(x.a)


def _hi(x):
    return mp.mpf(x.b)


class _IvMeasure:
    """A measure with interval atoms and masses; evaluates φ and the elasticity bound."""

    def __init__(self, atoms, masses, eta):
        self.e = [iv.mpf([a * (1 - eta), a * (1 + eta)]) for a in atoms]
        self.w = [iv.mpf([m * (1 - eta), m * (1 + eta)]) for m in masses]

    def phi(self, t):
        A, B = mp_phi_parts(t, self.e, self.w)
        return A / B

    def parts(self, t):
        """(A, B, S) at a point t."""
        A, B = mp_phi_parts(t, self.e, self.w)
        s0 = s1 = s2 = 0
        for e, w in zip(self.e, self.w):
            q = w / (e + t) ** 3
            s0, s1, s2 = s0 + q, s1 + q * e, s2 + q * e * e
        S = 2 * (s2 * s0 - s1 * s1)
        return A, B, S

    def eps_bound(self, t1, t2):
        """Upper bound of |ε| on [t1, t2] (t1 ≤ t2 points)."""
        A2, B2, _ = self.parts(t2)
        _, _, S1 = self.parts(t1)
        return _hi(t2 * S1 / (A2 * B2)) if _hi(S1) > 0 else mp.mpf(0)


def certify(problem: Problem, digits: int = 30, *, spectra: MPSpectra | None = None,
            structured: bool | None = None, initial_cells: int = 32, max_cells: int = 4000) -> Certificate:
    """Prove (or fail to prove) that the fixed point of φ_R∘φ_Σ is unique; enclose it.

    Args:
        problem: the setting (non-degenerate).
        digits: working precision of the spectra and of the interval arithmetic.
        spectra: precomputed :class:`MPSpectra` (at ≥ ``digits``), else computed.
        structured: as for :func:`wpgd.numerics.core.solver.solve`.
        initial_cells: log-uniform cells to start from.
        max_cells: budget of cells examined.

    Returns:
        A :class:`Certificate`.
    """
    sp = mp_spectra(problem, digits, structured=structured) if spectra is None else spectra
    old = iv.prec
    iv.dps = digits
    try:
        with mp.workdps(digits):
            return _certify(sp, digits, initial_cells, max_cells)
    finally:
        iv.prec = old


def _certify(sp: MPSpectra, digits, initial_cells, max_cells) -> Certificate:
    eta = max(mp.mpf(10) ** (-(digits // 2)), 1000 * sp.residual)
    sig = _IvMeasure(sp.lam, [x * x for x in sp.lam], eta)
    task = _IvMeasure(sp.rho, [x * x for x in sp.s], eta)

    def T(g):
        return task.phi(sig.phi(g))

    t0 = T(iv.mpf(0))
    mu_inf = _phi_inf(sig)
    t_inf = task.phi(mu_inf)
    lo, hi = _lo(t0), _hi(t_inf)
    inv = (float(lo), float(hi))
    if lo <= 0:
        return Certificate(False, None, float("inf"), inv, 0, digits, "T(0) not bounded away from 0")
    xs = [mp.log(lo) + (mp.log(hi) - mp.log(lo)) * k / initial_cells for k in range(initial_cells + 1)]
    pts = [mp.exp(x) for x in xs]
    pts[0], pts[-1] = lo, hi
    stack = [(pts[k], pts[k + 1]) for k in range(initial_cells)][::-1]
    done, examined, kappa = [], 0, mp.mpf(0)
    cache = {}

    def Tc(g):
        if g not in cache:
            cache[g] = T(iv.mpf(g))
        return cache[g]

    while stack:
        g1, g2 = stack.pop()
        examined += 1
        y1, y2 = Tc(g1), Tc(g2)
        excluded = _hi(y2) < g1 or _lo(y1) > g2
        mu1, mu2 = _lo(sig.phi(iv.mpf(g2))), _hi(sig.phi(iv.mpf(g1)))
        bound = _hi(iv.mpf(sig.eps_bound(iv.mpf(g1), iv.mpf(g2))) * iv.mpf(task.eps_bound(iv.mpf(mu1), iv.mpf(mu2))))
        if excluded or bound < 1 or examined + len(stack) >= max_cells:
            kappa = max(kappa, bound)
            done.append((g1, g2, y1, y2, excluded, bound < 1))
            continue
        mid = mp.sqrt(g1 * g2)
        stack.extend([(mid, g2), (g1, mid)])
    done.sort(key=lambda c: c[0])
    data = {"eta": float(eta), "eigen_residual": float(sp.residual)}
    unresolved = [c for c in done if not c[4] and not c[5]]
    if unresolved:
        return Certificate(False, None, float(kappa), inv, examined, digits,
                           f"{len(unresolved)} cell(s) neither excluded nor contracting "
                           f"(first at γ ≈ {float(unresolved[0][0]):.6g}) within the budget", data)
    runs, cur = [], []
    for c in done:
        if c[5] and not c[4]:
            if cur and cur[-1][1] == c[0]:
                cur.append(c)
            else:
                if cur:
                    runs.append(cur)
                cur = [c]
        else:
            if cur:
                runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    candidates = [r for r in runs if _hi(r[0][2]) >= r[0][0] and _lo(r[-1][3]) <= r[-1][1]]
    if len(candidates) != 1:
        return Certificate(False, None, float(kappa), inv, examined, digits,
                           f"{len(candidates)} runs of contracting cells may hold a fixed point", data)
    run = candidates[0]
    a, b = _enclose(Tc, run[0][0], run[-1][1], digits)
    data["runs"] = len(runs)
    return Certificate(True, (float(mp.mpf(a)), float(mp.mpf(b))), float(kappa), inv, examined, digits, "", data)


def _phi_inf(sig: _IvMeasure):
    """lim φ_Σ(t) as t → ∞: Σ w / Σ w e."""
    num = den = 0
    for e, w in zip(sig.e, sig.w):
        num, den = num + w, den + w * e
    return num / den


def _enclose(Tc, a, b, digits):
    """Shrink [a, b] (G(a) ≥ 0 ≥ G(b) possible) to a proven bracket: G(a') > 0 > G(b')."""
    target = mp.mpf(10) ** (-(digits // 3))
    for _ in range(400):
        if (b - a) <= target * b:
            break
        m = mp.sqrt(a * b)
        y = Tc(m)
        if _lo(y) > m:
            a = m
        elif _hi(y) < m:
            b = m
        else:
            break
    return a, b
