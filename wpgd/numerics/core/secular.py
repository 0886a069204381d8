"""The secular-like functions φ_Σ, φ_R and their elasticities (docs/theory.md §5, docs/solver.md).

For a discrete measure with atoms ``e_k > 0`` and masses ``w_k > 0``

    φ(t) = Σ_k w_k/(e_k + t)²  /  Σ_k w_k e_k/(e_k + t)²,        t ≥ 0.

``φ_Σ`` has the non-zero eigenvalues λ_j of Σ as atoms and λ_j² as masses; ``φ_R`` has the
informative generalised eigenvalues ρ_k of (M1, M2) as atoms and s_k² = (v_kᵀ r)² as masses.
Writing ``π_k ∝ w_k/(e_k + t)²`` (a probability vector), ``φ(t) = E_π[1] / E_π[e]``: a
weighted harmonic-type mean of ``1/e``, so ``1/e_max ≤ φ ≤ 1/e_min``.

Elasticity (the derivative in log–log scale), in a cancellation-free form:

    ε(t) = d log φ / d log t = −2 t (Σ_k ν_k)² Var_ν(e) / E_π[e] ≤ 0,   ν_k = π_k/(e_k + t),

which follows from ``ε = −t Σ_{jk} w_j w_k (e_j − e_k)² / ((e_j+t)³ (e_k+t)³) / (A B)`` with
``A = Σ w/(e+t)²``, ``B = Σ w e/(e+t)²``. The variance is computed two-pass (centred), so
``ε`` is exactly 0 for a single atom and accurate for nearly equal atoms.

Every function here is vectorised over ``t`` (any shape) and O(m) per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SecularFunction", "phi", "phi_elasticity", "gap_delta", "elasticity_bound"]


def _prepare(t, atoms, masses):
    t = np.asarray(t, dtype=np.float64)
    e = np.asarray(atoms, dtype=np.float64)
    w = np.asarray(masses, dtype=np.float64)
    return t, e, w


def _weights(t, e, w):
    """π_k(t) normalised (shape t.shape + (m,)) and 1/(e_k + t)."""
    tt = t[..., None]
    base = np.min(e) + tt
    ratio = base / (e + tt)  # in (0, 1]: no overflow or underflow for any t
    raw = (w / np.max(w)) * ratio * ratio
    pi = raw / np.sum(raw, axis=-1, keepdims=True)
    return pi, ratio / base


def phi(t, atoms, masses):
    """φ(t) for the measure (atoms, masses).

    Args:
        t: evaluation points ≥ 0, any shape.
        atoms: e_k > 0, shape (m,).
        masses: w_k > 0, shape (m,).

    Returns:
        φ(t), shape of ``t``.
    """
    t, e, w = _prepare(t, atoms, masses)
    with np.errstate(under="ignore"):  # tiny masses underflow to 0: the correct limit
        pi, _ = _weights(t, e, w)
        return 1.0 / np.sum(pi * e, axis=-1)


def phi_elasticity(t, atoms, masses):
    """φ(t) and its elasticity ε(t) = d log φ / d log t (≤ 0).

    Args:
        t: evaluation points ≥ 0, any shape.
        atoms: e_k > 0, shape (m,).
        masses: w_k > 0, shape (m,).

    Returns:
        (φ, ε), each of the shape of ``t``.
    """
    t, e, w = _prepare(t, atoms, masses)
    with np.errstate(under="ignore"):
        pi, inv = _weights(t, e, w)
        mean_e = np.sum(pi * e, axis=-1)
        nu = pi * inv
        nu_sum = np.sum(nu, axis=-1)
        nu_n = nu / nu_sum[..., None]
        centred = e - np.sum(nu_n * e, axis=-1)[..., None]
        var = np.sum(nu_n * centred * centred, axis=-1)
        eps = -2.0 * t * nu_sum * nu_sum * var / mean_e
    return 1.0 / mean_e, eps


def gap_delta(e_min: float, e_max: float) -> float:
    """Effective spectral gap δ = (√e_max − √e_min)/(√e_max + √e_min) = tanh(¼ log κ) ∈ [0, 1).

    See docs/conditions.md: ``sup_t |ε(t)| ≤ 2 δ²`` for every measure supported in [e_min, e_max].
    """
    a, b = np.sqrt(float(e_min)), np.sqrt(float(e_max))
    return float((b - a) / (b + a))


def elasticity_bound(t, e_min: float, e_max: float):
    """Pointwise bound |ε(t)| ≤ 2 δ · t (e_max − e_min)/((e_min + t)(e_max + t)) (docs/conditions.md).

    Args:
        t: points ≥ 0, any shape.
        e_min, e_max: extreme atoms of the measure (> 0).

    Returns:
        the bound, shape of ``t``; its maximum over t is 2δ², reached at t = √(e_min e_max).
    """
    t = np.asarray(t, dtype=np.float64)
    delta = gap_delta(e_min, e_max)
    # grouped as two ratios ≤ 1 so that extreme t or atoms cannot overflow the product
    with np.errstate(under="ignore"):
        return 2.0 * delta * (t / (e_min + t)) * ((e_max - e_min) / (e_max + t))


@dataclass(frozen=True, eq=False)
class SecularFunction:
    """φ for one measure, with its range and limits.

    Attributes:
        atoms: e_k > 0, shape (m,), ascending.
        masses: w_k > 0, shape (m,).
    """

    atoms: np.ndarray
    masses: np.ndarray

    def __post_init__(self):
        e = np.asarray(self.atoms, dtype=np.float64)
        w = np.asarray(self.masses, dtype=np.float64)
        if e.ndim != 1 or e.shape != w.shape or e.size == 0:
            raise ValueError("atoms and masses must be non-empty vectors of one length")
        if not (np.all(e > 0) and np.all(w > 0) and np.all(np.isfinite(e)) and np.all(np.isfinite(w))):
            raise ValueError("atoms and masses must be finite and > 0")
        order = np.argsort(e)
        e, w = e[order], w[order] / np.max(w)  # φ is invariant to a common mass scale
        e.setflags(write=False)
        w.setflags(write=False)
        object.__setattr__(self, "atoms", e)
        object.__setattr__(self, "masses", w)

    def __call__(self, t):
        """φ(t), shape of ``t``."""
        return phi(t, self.atoms, self.masses)

    def with_elasticity(self, t):
        """(φ(t), ε(t)), each of the shape of ``t``."""
        return phi_elasticity(t, self.atoms, self.masses)

    @property
    def e_min(self) -> float:
        """Smallest atom."""
        return float(self.atoms[0])

    @property
    def e_max(self) -> float:
        """Largest atom."""
        return float(self.atoms[-1])

    @property
    def at_zero(self) -> float:
        """φ(0) = Σ w/e² / Σ w/e."""
        return float(self(0.0))

    @property
    def at_infinity(self) -> float:
        """lim_{t→∞} φ(t) = Σ w / Σ w e."""
        w, e = self.masses, self.atoms
        return float(np.sum(w) / np.sum(w * e))

    @property
    def delta(self) -> float:
        """Effective spectral gap of the support, :func:`gap_delta`."""
        return gap_delta(self.e_min, self.e_max)
