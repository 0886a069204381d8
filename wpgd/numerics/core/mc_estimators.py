"""Per-prompt Monte Carlo estimators of the WPGD risk (used by :mod:`wpgd.numerics.core.montecarlo`).

Each estimator maps a batch of ``m`` sampled prompts to ``m`` i.i.d. values whose expectation is
exactly the population risk ``L(P, ω) = E[(ŷ − y)²]`` of ``ŷ = xᵀ P Xᵀ(ω ⊙ y)``. They differ in how
much of the prompt is sampled and how much is integrated out in closed form (Rao–Blackwellisation:
a conditional expectation has the same mean and never a larger variance):

``plain``
    everything sampled (features, tasks, label noise, the query): ``(ŷ − y_q)²``. Uses no
    moment identity at all; the most independent check of the closed form, and the noisiest.
``query``
    demonstrations and all tasks sampled; the query features ``x ~ N(0, Σ)`` and the query noise
    ``ε ~ N(0, σ²)`` integrated out: ``E[(ŷ − y_q)² | X, y, β_q] = (Pu − β_q)ᵀ Σ (Pu − β_q) + σ²``
    with ``u = Xᵀ(ω ⊙ y)``. Uses only ``E[x xᵀ] = Σ`` and ``E[ε²] = σ²`` for one query.
``conditional``
    only the demonstration features ``X`` sampled; tasks and all label noise integrated out
    given ``X`` (they are Gaussian and enter ``ŷ − y`` linearly, so the conditional mean is a
    second-moment computation, ``E[β_i β_jᵀ] = R̄_ij I``):

        E[(ŷ − y)² | X] = Σ_ij ω_i ω_j (R̄_ij x_iᵀx_j + σ² δ_ij) x_iᵀ A x_j
                          − 2 Σ_i ω_i R̄_iq x_iᵀ Σ P x_i + r_q tr Σ + σ²,      A = Pᵀ Σ P.

    The fourth moments of the features — where the closed form's ``D_R`` and ``tr Σ`` terms come
    from — are still sampled, not assumed. For a segment problem the double sum is
    ``Σ_kl C̄_kl tr(A S_l S_k)`` with ``S_k = Σ_{i in segment k} ω_i x_i x_iᵀ``: O(n d²) per prompt.

The functions are written once for NumPy and PyTorch arrays (``einsum`` and ``@`` only); a
``draw`` object supplies standard normals and converts constants (see ``wpgd.numerics.core.montecarlo``).
"""

from __future__ import annotations

import math

import numpy as np

from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.safety import psd_factor

__all__ = ["ESTIMATORS", "task_factor"]


def task_factor(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Factor of the task covariance and the row of it each token's task comes from.

    Returns:
        F, shape (m, m) with ``F Fᵀ`` the joint task correlation (m = K+1 for a segment problem,
        n+1 for a dense one); idx, shape (n+1,): token i (query last) takes task row ``idx[i]``.
    """
    if problem.is_segmented:
        idx = np.concatenate([problem.segment_index, [problem.num_segments]])
        return psd_factor(problem.segment_joint_matrix), idx
    return psd_factor(problem.task_matrix), np.arange(problem.n + 1)


def _features(problem, draw, shape):
    """Features ``x = F_Σ z``: standard normals of ``shape + (d,)`` times the Σ factor."""
    return draw.normal(shape + (problem.d,)) @ draw.asarray(psd_factor(problem.sigma)).T


def _tasks(problem, draw, m):
    """Task vectors of every token (query last), shape (m, n+1, d), ``E[β_i β_jᵀ] = R̄_ij I``."""
    f_task, idx = task_factor(problem)
    g = draw.normal((m, f_task.shape[1], problem.d))
    tasks = draw.einsum("ab,sbd->sad", draw.asarray(f_task), g)
    return tasks[:, draw.index(idx), :]


def sample_prompt_arrays(problem: Problem, m: int, draw):
    """Features (m, n+1, d), tasks (m, n+1, d), labels (m, n+1): query last, drawn in that order."""
    feats = _features(problem, draw, (m, problem.n + 1))
    tasks = _tasks(problem, draw, m)
    labels = draw.einsum("snd,snd->sn", feats, tasks)
    labels = labels + math.sqrt(problem.noise) * draw.normal((m, problem.n + 1))
    return feats, tasks, labels


def _plain(problem, P, omega, m, draw):
    n = problem.n
    feats, _, labels = sample_prompt_arrays(problem, m, draw)
    u = draw.einsum("snd,sn->sd", feats[:, :n], omega * labels[:, :n])
    pred = draw.einsum("si,ij,sj->s", feats[:, n], P, u)
    return (pred - labels[:, n]) ** 2


def _query(problem, P, omega, m, draw):
    n = problem.n
    X = _features(problem, draw, (m, n))
    tasks = _tasks(problem, draw, m)
    y = draw.einsum("snd,snd->sn", X, tasks[:, :n]) + math.sqrt(problem.noise) * draw.normal((m, n))
    u = draw.einsum("snd,sn->sd", X, omega * y)
    a = u @ P.T - tasks[:, n]
    return draw.einsum("si,ij,sj->s", a, draw.asarray(problem.sigma), a) + problem.noise


def _weighted_scatter(draw, Xa, Xb):
    """``Σ_i a_i b_iᵀ`` per prompt: (m, n, d), (m, n, d) → (m, d, d)."""
    return draw.einsum("sia,sib->sab", Xa, Xb)


def _conditional(problem, P, omega, m, draw):
    n = problem.n
    sigma = draw.asarray(problem.sigma)
    A = P.T @ sigma @ P
    X = _features(problem, draw, (m, n))
    Xw = X * omega[:, None]
    if problem.is_segmented:
        K = problem.num_segments
        ends = np.cumsum(problem.segment_sizes)
        # S_k = Σ_{i in segment k} ω_i x_i x_iᵀ, shape (m, d, d) each
        S = [_weighted_scatter(draw, Xw[:, e - s:e], X[:, e - s:e])
             for s, e in zip(problem.segment_sizes, ends)]
        joint = problem.segment_joint_matrix
        AS = [(A @ Sk) for Sk in S]  # broadcast matmul (d×d)·(m, d, d); tr(M S) = Σ M ∘ S as S = Sᵀ
        double = sum(float(joint[k, l]) * (AS[l] * S[k]).sum((-1, -2))
                     for k in range(K) for l in range(K) if joint[k, l] != 0)
        cross = sum(float(joint[k, K]) * ((sigma @ P) * Sk).sum((-1, -2))
                    for k, Sk in enumerate(S))  # Σ_k c_k tr(ΣP S_k)
    else:
        gram_a = draw.einsum("sia,sja->sij", (X.reshape(-1, problem.d) @ A).reshape(X.shape), X)
        gram = draw.einsum("sia,sja->sij", X, X)
        rw = draw.asarray(problem.task_matrix[:n, :n]) * (omega[:, None] * omega[None, :])
        double = (rw * gram_a * gram).sum((-1, -2))
        Xr = X * (omega * draw.asarray(problem.r))[:, None]
        cross = ((sigma @ P) * _weighted_scatter(draw, Xr, X)).sum((-1, -2))  # Σ_i ω_i r_i x_iᵀΣPx_i
    noise = problem.noise
    if noise:
        double = double + noise * (A * _weighted_scatter(draw, Xw, Xw)).sum((-1, -2))  # Σ_i ω_i² x_iᵀAx_i
    return double - 2.0 * cross + problem.query_variance * problem.trace_sigma + noise


ESTIMATORS = {"conditional": _conditional, "query": _query, "plain": _plain}
"""Name → ``f(problem, P, ω, m, draw)`` returning m i.i.d. unbiased per-prompt risk values."""
