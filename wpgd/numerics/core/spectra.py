"""The two spectra the optimum depends on: Σ (feature side) and (M1, M2) (task side).

Feature side. ``Σ = U diag(λ) Uᵀ``. Directions with λ_j = 0 carry no signal: a(P), b(P), c(P)
only see ``UᵀPU`` on the range of Σ, so we restrict to the *numerical range*
``λ_j > RANK_RTOL · d · λ_max`` and set P to zero on the null space (the minimum-norm choice).

Task side. The generalised eigenproblem ``M1 v = ρ M2 v`` with ``vᵀ M2 v = 1``, ``s = Vᵀ r``.

* M2 = tr Σ · D_R + σ² I is diagonal; an entry is 0 only if σ² = 0 and demonstration i has task
  variance R_ii = 0. Then β_i = 0 a.s., so y_i = 0, R's row i and r_i vanish (R̄ ⪰ 0), and ω_i
  does not enter the risk at all: such tokens are *dropped* (restricted out) and get ω_i = 0.
  On the remaining tokens M2 ≻ 0, and with W = M2^{-1/2}, ``W M1 W = Z diag(ρ) Zᵀ``, V = W Z.
* ρ_k = 0 forces s_k = 0 (vᵀM1v = 0 ⇒ D_R v = 0 ⇒ rᵀv = 0), so every *informative* atom
  (s_k ≠ 0) has ρ_k > 0 and φ_R is well defined for μ > 0.
* Segment problems (structured path). With E the n×K indicator, N = EᵀE = diag(n_k),
  M1 = E C Eᵀ + D_R and M2 constant within each segment, the space of piecewise-constant vectors
  E x is invariant, and its M2-orthogonal complement (zero sum in every segment) consists of
  eigenvectors with ρ = C_kk/m2_k and s = 0 (n_k − 1 of them in segment k). The informative part
  is the K×K symmetric problem

      W (N^{1/2} C N^{1/2} + diag(C_kk)) W z = ρ z,   W = diag(m2_k)^{-1/2},
      s = Zᵀ W N^{1/2} c,   level values of v: x = N^{-1/2} W z,

  so ω(μ) = (M1 + μ M2)^{-1} r = E x(μ) is constant within each segment. Cost O(K³), memory
  O(K²); the length-n vector is only formed when the caller asks for ω.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.secular import SecularFunction

__all__ = [
    "RANK_RTOL",
    "INFORMATIVE_RTOL",
    "FeatureSpectrum",
    "TaskSpectrum",
    "feature_spectrum",
    "task_spectrum",
]

RANK_RTOL = 4.0 * np.finfo(np.float64).eps
"""λ_j ≤ RANK_RTOL · d · λ_max counts as 0 (numerical range of Σ)."""

INFORMATIVE_RTOL = 1e-12
"""|s_k| ≤ INFORMATIVE_RTOL · max|s| counts as uninformative (rounding of an exact 0)."""


@dataclass(frozen=True, eq=False)
class FeatureSpectrum:
    """Σ restricted to its numerical range.

    Attributes:
        lam: non-zero eigenvalues, shape (d_+,), ascending.
        basis: their eigenvectors, shape (d, d_+).
        d: full dimension.
        trace: tr Σ.
    """

    lam: np.ndarray
    basis: np.ndarray
    d: int
    trace: float

    @property
    def rank(self) -> int:
        """d_+ = number of non-zero eigenvalues."""
        return int(self.lam.size)

    def secular(self) -> SecularFunction:
        """φ_Σ: atoms λ_j, masses λ_j² (scaled by 1/λ_max²: φ is homogeneous of degree 0 in the
        masses, and the scaling keeps tiny spectra from underflowing to zero masses)."""
        return SecularFunction(self.lam, (self.lam / np.max(self.lam)) ** 2)

    def traces(self, gamma: float) -> tuple[float, float, float]:
        """(a, b, c) of P̂ = (Σ + γI)^{-1} on the range: Σλ²/(λ+γ), Σλ³/(λ+γ)², Σλ²/(λ+γ)²."""
        lam = self.lam
        q = lam / (lam + gamma)
        return float(np.sum(lam * q)), float(np.sum(lam * q * q)), float(np.sum(q * q))

    def preconditioner(self, gamma: float) -> np.ndarray:
        """P̂ = U_+ diag(1/(λ+γ)) U_+ᵀ, shape (d, d) (zero on the null space of Σ)."""
        u = self.basis
        return (u / (self.lam + gamma)) @ u.T


@dataclass(frozen=True, eq=False)
class TaskSpectrum:
    """The generalised eigen-decomposition of (M1, M2) restricted to the informative part.

    Attributes:
        rho: all generalised eigenvalues of the kept block, shape (m,), ascending, clipped ≥ 0.
        s: projections s_k = v_kᵀ r, shape (m,).
        informative: mask |s_k| > INFORMATIVE_RTOL·max|s|, shape (m,).
        basis: v_k restricted to the kept tokens (dense: shape (n_kept, m)), or their level
            values per segment (segments: shape (K_kept, m)).
        kept: mask of tokens (dense, shape (n,)) or segments (shape (K,)) with M2 > 0.
        segment_sizes: n_k of the kept segments (segments only), else None.
        all_segment_sizes: n_k of every segment (segments only), else None.
        hidden: (ρ, multiplicity) pairs of the uninformative zero-sum eigenvectors not in
            ``rho`` (segments only: ρ = C_kk/m2_k with multiplicity n_k − 1).
        n: prompt length.
        dropped: number of tokens with M2 = 0 (restricted out).
    """

    rho: np.ndarray
    s: np.ndarray
    informative: np.ndarray
    basis: np.ndarray
    kept: np.ndarray
    segment_sizes: np.ndarray | None
    all_segment_sizes: np.ndarray | None
    hidden: tuple[tuple[float, int], ...]
    n: int
    dropped: int

    @property
    def is_degenerate(self) -> bool:
        """True if no atom is informative (r = 0 on the kept tokens)."""
        return not bool(np.any(self.informative))

    def secular(self) -> SecularFunction:
        """φ_R: informative atoms ρ_k, masses s_k² (scaled by 1/max s_k², as for φ_Σ: a tiny but
        nonzero r must not underflow to zero masses)."""
        m = self.informative
        return SecularFunction(self.rho[m], (self.s[m] / self.s_scale) ** 2)

    @property
    def s_scale(self) -> float:
        """max |s_k|, the scale of r in the generalised eigenbasis (1 if r = 0)."""
        top = float(np.max(np.abs(self.s))) if self.s.size else 0.0
        return top if top > 0 else 1.0

    def sums(self, mu: float, normalized: bool = False) -> tuple[float, float, float]:
        """(u, B, Cq) = (rᵀω̂, ω̂ᵀM1ω̂, ω̂ᵀM2ω̂) for ω̂ = (M1 + μM2)^{-1} r.

        With ``normalized`` the sums are computed for r / :attr:`s_scale` (each is quadratic in r,
        so they are the true sums divided by ``s_scale²``), which cannot underflow for tiny r.
        """
        s = self.s / self.s_scale if normalized else self.s
        q = s / (self.rho + mu)
        return float(np.sum(s * q)), float(np.sum(self.rho * q * q)), float(np.sum(q * q))

    def levels(self, mu: float) -> np.ndarray:
        """ω̂ on the kept tokens (dense) or per kept segment (segments), shape (n_kept,) / (K_kept,)."""
        return self.basis @ (self.s / (self.rho + mu))

    def expand(self, level_values: np.ndarray) -> np.ndarray:
        """A full-length ω, shape (n,), from kept-token / kept-segment values (0 on dropped ones)."""
        if self.segment_sizes is None:
            out = np.zeros(self.n)
            out[self.kept] = level_values
            return out
        full = np.zeros(self.kept.size)
        full[self.kept] = level_values
        return np.repeat(full, self.all_segment_sizes)

    def weights(self, mu: float) -> np.ndarray:
        """ω̂ = (M1 + μM2)^{-1} r, shape (n,) (0 on dropped tokens)."""
        return self.expand(self.levels(mu))


def feature_spectrum(problem: Problem) -> FeatureSpectrum:
    """Σ's non-zero eigenpairs (O(d³), cached by the problem)."""
    lam, u = problem.sigma_eig
    lam_max = float(lam[-1]) if lam.size else 0.0
    keep = lam > RANK_RTOL * problem.d * lam_max if lam_max > 0 else np.zeros(lam.size, bool)
    return FeatureSpectrum(lam=lam[keep].copy(), basis=u[:, keep].copy(), d=problem.d, trace=problem.trace_sigma)


def _finish(rho, z_rows, s, kept, sizes, hidden, n, dropped, sizes_all=None) -> TaskSpectrum:
    rho = np.clip(rho, 0.0, None)
    smax = float(np.max(np.abs(s))) if s.size else 0.0
    informative = np.abs(s) > INFORMATIVE_RTOL * smax if smax > 0 else np.zeros(s.size, bool)
    return TaskSpectrum(
        rho=rho, s=s, informative=informative, basis=z_rows, kept=kept, segment_sizes=sizes,
        all_segment_sizes=sizes_all, hidden=hidden, n=n, dropped=dropped,
    )


def task_spectrum(problem: Problem, *, structured: bool | None = None) -> TaskSpectrum:
    """Generalised eigen-decomposition of (M1, M2), dense O(n³) or structured O(K³).

    Args:
        problem: the setting.
        structured: force the structured (True) or dense (False) path; default: structured for
            segment problems. The dense path on a segment problem forms n×n matrices (small n only).

    Returns:
        the :class:`TaskSpectrum`.
    """
    if structured is None:
        structured = problem.is_segmented
    if structured:
        return _task_spectrum_segments(problem)
    return _task_spectrum_dense(problem)


def _task_spectrum_dense(problem: Problem) -> TaskSpectrum:
    m2 = problem.m2_diag
    kept = m2 > 0
    m1 = problem.m1_matrix()
    if not np.all(kept):
        m1 = m1[np.ix_(kept, kept)]
    w = 1.0 / np.sqrt(m2[kept])
    a = (w[:, None] * m1) * w[None, :]
    rho, z = np.linalg.eigh(0.5 * (a + a.T))
    s = z.T @ (w * problem.r[kept])
    basis = w[:, None] * z
    n = problem.n
    return _finish(rho, basis, s, kept, None, (), n, int(n - np.count_nonzero(kept)))


def _task_spectrum_segments(problem: Problem) -> TaskSpectrum:
    sizes_all = np.asarray(problem.segment_sizes, dtype=np.float64)
    c_all = problem.segment_correlation
    var_all = np.diag(c_all)
    m2_all = problem.trace_sigma * var_all + problem.noise
    kept = m2_all > 0
    sizes = sizes_all[kept]
    cc = c_all[np.ix_(kept, kept)]
    cq = problem.query_correlation[kept]
    var = var_all[kept]
    w = 1.0 / np.sqrt(m2_all[kept])
    root = np.sqrt(sizes)
    a = (root[:, None] * cc) * root[None, :] + np.diag(var)
    a = (w[:, None] * a) * w[None, :]
    rho, z = np.linalg.eigh(0.5 * (a + a.T))
    s = z.T @ (w * root * cq)
    basis = (w / root)[:, None] * z
    hidden = tuple(
        (float(v / m), int(k - 1)) for v, m, k in zip(var, m2_all[kept], sizes.astype(int)) if k > 1
    )
    dropped = int(np.sum(sizes_all[~kept]))
    return _finish(
        rho, basis, s, kept, sizes.astype(np.intp), hidden, problem.n, dropped,
        sizes_all=np.asarray(problem.segment_sizes, dtype=np.intp),
    )
