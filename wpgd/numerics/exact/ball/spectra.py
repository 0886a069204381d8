"""Σ and the task pencil as ball measures: the exact input of every certificate step.

The float64 arrays of the :class:`~wpgd.numerics.core.problem.Problem` are taken as exact. In Arb:

* φ_Σ: the eigenvalues of Σ (d×d; exact atoms when Σ is diagonal) enclosed by
  :func:`~wpgd.numerics.exact.ball.enclose.enclose`; masses λ² (``squares``), multiplicity per cluster.
  The numerical rank of Σ (:data:`wpgd.numerics.core.spectra.RANK_RTOL`) is decided once in float64 and
  shared with the float64 solver, so both solve the same problem on the range of Σ.
* φ_R: the spectral measure of ``H = W M1 W`` (W = M2^{-1/2}, tokens with M2 = 0 dropped
  exactly as in float64) with respect to ``b = W r`` (dense, n×n), or of the K×K segment block
  ``H = W (N^{1/2} C N^{1/2} + diag C_kk) W`` with ``b = W N^{1/2} c`` (docs/solver.md §2).
  W and N^{1/2} are irrational: H and b are balls. All clusters enter, informative or not
  (an uninformative cluster has a mass ball containing 0), so no float64 threshold is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.spectra import TaskSpectrum, feature_spectrum, task_spectrum
from wpgd.numerics.exact.ball._flint import flint
from wpgd.numerics.exact.ball.enclose import SpectralEnclosure, enclose
from wpgd.numerics.exact.ball.measure import BallMeasure

__all__ = ["BallSpectra", "ball_spectra"]


@dataclass(frozen=True, eq=False)
class BallSpectra:
    """Both measures and what the ω* enclosure needs.

    Attributes:
        sigma, task: the ball measures of φ_Σ and φ_R.
        sigma_enc, task_enc: their spectral enclosures (radii, clusters, refinements).
        H: ``arb_mat`` of the task block; hmid: its float64 midpoint; b: list of ``arb``.
        to_level: per row of H, the factor turning y = (H + μI)^{-1} b into ω (dense: W_i;
            segments: W_k/√n_k, a level per kept segment).
        null_risk: N = r_q tr Σ + σ² (``arb``).
        task64: the float64 :class:`~wpgd.numerics.core.spectra.TaskSpectrum` (kept mask, expand).
        structured: segment path.
        rank: numerical rank of Σ.
        prec: Arb working precision (bits).
    """

    sigma: BallMeasure
    task: BallMeasure
    sigma_enc: SpectralEnclosure
    task_enc: SpectralEnclosure
    H: object
    hmid: np.ndarray
    b: list
    to_level: list
    null_risk: object
    task64: TaskSpectrum
    structured: bool
    rank: int
    prec: int

    def summary(self) -> dict:
        """JSON-serialisable description of the enclosures."""
        s, t = self.sigma_enc, self.task_enc
        return {
            "prec_bits": self.prec, "rank_sigma": self.rank, "structured": self.structured,
            "sigma": {"size": int(sum(s.sizes)), "clusters": s.clusters, "radius": s.radius,
                      "orthogonality": s.orthogonality, "refinements": s.refinements},
            "task": {"size": int(sum(t.sizes)), "clusters": t.clusters, "radius": t.radius,
                     "orthogonality": t.orthogonality, "refinements": t.refinements,
                     "atoms_in_measure": len(self.task)},
        }


def _is_diagonal(a: np.ndarray) -> bool:
    return not np.any(a - np.diag(np.diag(a)))


def ball_spectra(problem: Problem, prec: int, *, structured: bool | None = None, target_bits: int = 30,
                 max_refine: int = 4, fast: bool = False) -> BallSpectra:
    """Enclose both measures of ``problem`` at ``prec`` bits (must run inside ``workprec(prec)``).

    Args:
        problem: the setting (non-degenerate: Σ ≠ 0 and r ≠ 0).
        prec: working precision in bits (for the record; the caller sets it).
        structured: K×K segment block (default for segment problems) or dense n×n.
        target_bits: refine eigenvectors until the Weyl radius is 2^-target_bits of the
            smallest relevant eigenvalue (float64 vectors often suffice).
        max_refine: cap on the refinement steps.
        fast: float64 midpoint–radius products instead of Arb products (see
            :func:`~wpgd.numerics.exact.ball.enclose.enclose`); looser, no refinement.

    Returns:
        A :class:`BallSpectra`.
    """
    fl = flint()
    arb = fl.arb
    if structured is None:
        structured = problem.is_segmented
    feat = feature_spectrum(problem)
    task64 = task_spectrum(problem, structured=structured)
    sig = np.asarray(problem.sigma, dtype=np.float64)
    d = problem.d
    floor = float(feat.lam[0]) if feat.rank else 1.0
    s_enc = enclose(sig, b=None, vectors=problem.sigma_eig[1], diagonal=_is_diagonal(sig), clip=True,
                    scale_floor=floor, target_bits=target_bits, max_refine=max_refine, fast=fast)
    first_kept = d - feat.rank
    atoms, mult, pos = [], [], 0
    for atom, size in zip(s_enc.atoms, s_enc.sizes):
        kept = sum(1 for j in range(pos, pos + size) if j >= first_kept)
        pos += size
        if kept:
            atoms.append(atom)
            mult.append(arb(kept))
    sigma = BallMeasure(atoms, mult, squares=True)

    tr = sum((arb(float(x)) for x in np.diag(sig)), arb(0))
    noise = arb(float(problem.noise))
    if structured:
        kept = task64.kept
        sizes = np.asarray(problem.segment_sizes, dtype=np.float64)[kept]
        C = np.asarray(problem.segment_correlation, dtype=np.float64)[np.ix_(kept, kept)]
        cq = np.asarray(problem.query_correlation, dtype=np.float64)[kept]
        var = np.diag(C)
        w = [1 / (tr * arb(float(v)) + noise).sqrt() for v in var]
        root = [arb(float(k)).sqrt() for k in sizes]
        K = sizes.size
        cobj = np.array([arb(float(x)) for x in C.ravel()], dtype=object).reshape(K, K)
        rw = np.array([root[i] * w[i] for i in range(K)], dtype=object)
        hobj = rw[:, None] * cobj * rw[None, :]
        for i in range(K):
            hobj[i, i] = hobj[i, i] + w[i] * w[i] * arb(float(var[i]))
        b = [w[i] * root[i] * arb(float(cq[i])) for i in range(K)]
        to_level = [w[i] / root[i] for i in range(K)]
        wf = 1.0 / np.sqrt(problem.trace_sigma * var + problem.noise)
        rf = np.sqrt(sizes)
        hmid = (wf * rf)[:, None] * C * (wf * rf)[None, :] + np.diag(wf * wf * var)
        diagonal = _is_diagonal(C)
        vectors = task64.basis / (wf / rf)[:, None]
    else:
        kept = task64.kept
        m1 = problem.m1_matrix()[np.ix_(kept, kept)]
        var = np.asarray(problem.diag_r, dtype=np.float64)[kept]
        r = np.asarray(problem.r, dtype=np.float64)[kept]
        K = m1.shape[0]
        w = [1 / (tr * arb(float(v)) + noise).sqrt() for v in var]
        wobj = np.array(w, dtype=object)
        mobj = np.array([arb(float(x)) for x in m1.ravel()], dtype=object).reshape(K, K)
        hobj = wobj[:, None] * mobj * wobj[None, :]
        b = [w[i] * arb(float(r[i])) for i in range(K)]
        to_level = list(w)
        wf = 1.0 / np.sqrt(problem.trace_sigma * var + problem.noise)
        hmid = (wf[:, None] * m1) * wf[None, :]
        diagonal = _is_diagonal(m1)
        vectors = task64.basis / wf[:, None]
    hmid = 0.5 * (hmid + hmid.T)
    H = fl.arb_mat(K, K, list(hobj.ravel()))
    info = task64.rho[task64.informative]
    tfloor = float(max(np.min(info), 2.0**-40 * np.max(info))) if info.size else 1.0
    hrad = np.array([float(x.rad()) for x in hobj.ravel()]).reshape(K, K) * (1 + 2.0**-40)
    t_enc = enclose(hmid, H, hrad=hrad, vectors=vectors, b=b, diagonal=diagonal, clip=True, scale_floor=tfloor,
                    target_bits=target_bits, max_refine=max_refine, fast=fast)
    keep = [k for k in range(len(t_enc.masses)) if t_enc.masses[k].upper() > 0]
    task = BallMeasure([t_enc.atoms[k] for k in keep], [t_enc.masses[k] for k in keep])
    null = arb(float(problem.query_variance)) * tr + noise
    return BallSpectra(sigma=sigma, task=task, sigma_enc=s_enc, task_enc=t_enc, H=H, hmid=hmid, b=b,
                       to_level=to_level, null_risk=null, task64=task64, structured=structured,
                       rank=feat.rank, prec=prec)
