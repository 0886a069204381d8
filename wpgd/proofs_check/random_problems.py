"""Seeded random problems for the proof checks (the Hypothesis strategies live in ``strategies``).

Both build on the same constructions (:func:`spd_from_spectrum`, :func:`joint_task_matrix`),
so a check and a property test exercise the same family of settings: non-identity Σ with a
chosen condition number, task correlations with non-unit variances, dense and segment forms.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.problem import Problem

__all__ = [
    "spd_from_spectrum",
    "random_orthogonal",
    "joint_task_matrix",
    "random_problem",
    "mixed_problems",
    "random_pw",
]


def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    """A Haar-random orthogonal matrix, shape (d, d)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def spd_from_spectrum(eigenvalues, q: np.ndarray) -> np.ndarray:
    """``Q diag(λ) Qᵀ`` symmetrised exactly, shape (d, d)."""
    s = (q * np.asarray(eigenvalues, dtype=np.float64)) @ q.T
    return 0.5 * (s + s.T)


def joint_task_matrix(factor: np.ndarray, variances=None) -> np.ndarray:
    """A PSD matrix ``G Gᵀ`` rescaled to the given diagonal (task variances), shape (m, m)."""
    g = np.asarray(factor, dtype=np.float64)
    m = g @ g.T
    if variances is not None:
        dia = np.sqrt(np.clip(np.diag(m), 1e-300, None))
        m = m / np.outer(dia, dia) * np.sqrt(np.outer(variances, variances))
    return 0.5 * (m + m.T)


def random_problem(
    rng: np.random.Generator,
    d: int,
    *,
    segments=None,
    n: int | None = None,
    condition: float = 10.0,
    noise: float | None = None,
    unit_variances: bool = False,
) -> Problem:
    """A random valid problem.

    Args:
        rng: numpy generator.
        d: feature dimension.
        segments: segment sizes for a segment problem, or None for a dense problem with ``n`` tokens.
        n: number of demonstrations of a dense problem.
        condition: condition number of Σ (log-uniform spectrum between 1 and ``condition``).
        noise: σ², default random in [0, 0.5].
        unit_variances: if False, task variances are random in [0.5, 2].

    Returns:
        A validated :class:`Problem`.
    """
    lam = np.exp(rng.uniform(0.0, np.log(condition), size=d))
    lam[0], lam[-1] = 1.0, condition
    sigma = spd_from_spectrum(lam / lam.mean(), random_orthogonal(rng, d))
    noise = float(rng.uniform(0.0, 0.5)) if noise is None else noise
    m = (len(segments) if segments is not None else n) + 1
    variances = np.ones(m) if unit_variances else rng.uniform(0.5, 2.0, size=m)
    joint = joint_task_matrix(rng.standard_normal((m, m + 1)), variances)
    if segments is None:
        return Problem.dense(sigma, joint, noise)
    k = len(segments)
    return Problem.segmented(
        sigma, segments, joint[:k, k], correlation=joint[:k, :k], query_variance=joint[k, k], noise=noise
    )


def mixed_problems(
    rng: np.random.Generator,
    count: int,
    *,
    dims: tuple[int, int],
    tokens: tuple[int, int],
    num_segments: tuple[int, int],
    segment_size: tuple[int, int],
    condition,
) -> list[Problem]:
    """``count`` random problems alternating dense (even index) and segment form (odd index).

    Ranges are half-open ``(low, high)`` as in ``rng.integers``.

    Args:
        dims: range of d.
        tokens: range of n for the dense problems.
        num_segments: range of K for the segment problems.
        segment_size: range of each n_k.
        condition: condition number of Σ, a float or a ``(low, high)`` range drawn uniformly.

    Returns:
        Validated problems with non-identity Σ and non-unit task variances.
    """

    def cond():
        return float(rng.uniform(*condition)) if isinstance(condition, tuple) else float(condition)

    out = []
    for i in range(count):
        d = int(rng.integers(*dims))
        if i % 2:
            segs = [int(s) for s in rng.integers(*segment_size, size=int(rng.integers(*num_segments)))]
            out.append(random_problem(rng, d, segments=segs, condition=cond()))
        else:
            n = int(rng.integers(*tokens))
            out.append(random_problem(rng, d, n=n, condition=cond()))
    return out


def random_pw(rng: np.random.Generator, problem: Problem, scale: float | None = None):
    """A random non-symmetric preconditioner (d, d) and positive weights (n,) of sensible scale.

    The scale ``≈ 1/(n tr Σ)`` keeps the predictor O(1) so Monte Carlo variances stay moderate.
    """
    d, n = problem.d, problem.n
    scale = 1.0 / (n * max(problem.trace_sigma, 1e-12)) if scale is None else scale
    P = (np.eye(d) + 0.3 * rng.standard_normal((d, d))) * scale * d
    omega = rng.uniform(0.2, 1.5, size=n)
    return P, omega
