"""A secular function on ball data: φ(t) = A(t)/B(t) with enclosed atoms and masses.

Each atom is a ball ``e_J`` that contains every eigenvalue of a cluster and ``m_J`` a ball that
contains the cluster's total mass. For any function g, ``Σ_{k∈J} w_k g(e_k) ∈ m_J · g(e_J)``
(interval extension), so every sum below encloses the exact sum (docs/certificate.md §3):

    A(t) = Σ w/(e+t)²,   B(t) = Σ w e/(e+t)²,   φ = A/B,
    S(t) = Σ_jk w_j w_k (e_j − e_k)²/((e_j+t)³(e_k+t)³) = 2(s0 s2 − s1²),

with ``s_p = Σ w (e − c)^p/(e+t)³`` for any centre c (S is shift invariant; c = the ν-mean
makes the interval evaluation free of cancellation). ``|ε(t)| = t S/(A B)`` and A, B, S are
non-increasing in t for e ≥ 0, which gives the cell bounds of :meth:`BallMeasure.elasticity`.

For the Σ side the masses are the atoms squared (``squares=True``): then
``w/(e+t)² = m·(1/(1 + t/e))²`` with m the multiplicity, a single occurrence of e (tight).
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.exact.ball._flint import flint

__all__ = ["BallMeasure"]


class BallMeasure:
    """Atoms and masses as ``arb`` balls; evaluates A, B, S, φ and elasticity bounds.

    Args:
        atoms: sequence of ``arb`` (≥ 0), shape (m,).
        masses: sequence of ``arb`` (≥ 0), shape (m,); with ``squares`` the multiplicities.
        squares: masses are multiplicity × atom² (the Σ measure).
    """

    def __init__(self, atoms, masses, squares: bool = False):
        self.e = np.array(list(atoms), dtype=object)
        self.w = np.array(list(masses), dtype=object)
        self.squares = squares
        mid = np.array([float(x.mid()) for x in self.e])
        self._cache: dict = {}
        ww = np.array([float(x.mid()) for x in self.w])
        self._wmid = ww * mid * mid if squares else ww
        self._emid = mid

    def __len__(self) -> int:
        return int(self.e.size)

    def _terms(self, t):
        """q = w/(e+t)² and 1/(e+t) as object arrays."""
        if self.squares:
            exact_zero = t == 0  # True only for the exact point 0 (arb comparisons are certain)
            ratio = np.array([flint().arb(1)] * self.e.size, dtype=object) if exact_zero else 1 / (1 + t / self.e)
            q = self.w * ratio * ratio
            inv = ratio / self.e
        else:
            inv = 1 / (self.e + t)
            q = self.w * inv * inv
        return q, inv

    def parts(self, t):
        """(A, B, S) at the point (or ball) t."""
        key = (t.mid().man_exp(), t.rad().man_exp())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        q, inv = self._terms(t)
        A = q.sum()
        B = (q * self.e).sum()
        q3 = q * inv
        tm = float(t.mid())
        with np.errstate(over="ignore", under="ignore"):  # only a centring point: any finite c is exact
            nu = self._wmid / (self._emid + tm) ** 3
        c = float(np.sum(nu * self._emid) / np.sum(nu)) if np.sum(nu) > 0 else 0.0
        dev = self.e - c
        s0 = q3.sum()
        s1 = (q3 * dev).sum()
        s2 = (q3 * dev * dev).sum()
        S = 2 * (s0 * s2 - s1 * s1)
        out = (A, B, S, 2 * s0 * s2)
        self._cache[key] = out
        return out

    def phi(self, t):
        """φ(t) as a ball (t a point or a ball)."""
        A, B, _, _ = self.parts(t)
        return A / B

    def at_zero(self):
        """φ(0) = Σ w/e² / Σ w/e (the Σ measure: multiplicity count / Σ e)."""
        if self.squares:
            return self.w.sum() / (self.w * self.e).sum()
        return (self.w / (self.e * self.e)).sum() / (self.w / self.e).sum()

    def at_infinity(self):
        """lim φ(t), t → ∞: Σ w / Σ w e."""
        w = self.w * self.e * self.e if self.squares else self.w
        return w.sum() / (w * self.e).sum()

    def elasticity(self, t1, t2):
        """(lower, upper) bounds of |ε| on [t1, t2], t1 ≤ t2 exact points (arb).

        Upper: t2·S(t1)/(A(t2)B(t2)); lower: t1·S(t2)/(A(t1)B(t1)) (monotonicity of A, B, S).
        """
        arb = flint().arb
        A1, B1, S1, S1c = self.parts(t1)
        A2, B2, S2, _ = self.parts(t2)
        s_up = S1.upper().min(S1c.upper())
        if not s_up > 0:
            up = arb(0)
        else:
            a2 = A2.lower()
            b2 = B2.lower()
            up = (t2 * s_up / (a2 * b2)).upper() if (a2 > 0 and b2 > 0) else arb("inf")
        s_lo = S2.lower()
        lo = (t1 * s_lo / (A1.upper() * B1.upper())).lower().max(arb(0)) if s_lo > 0 else arb(0)
        return lo, up
