"""The L-step causal WPGD recursion that an L-layer GLA with the WPGD construction implements.

Tokens t = 1..T (demonstrations, delimiters with x = 0, the query last with label 0). Layer l
has channel groups (Q_{l,m}, gates g^{(l,m)}), weights ``Ω^{(l,m)}_{ts} = Π_{s<u≤t} g_u^{(l,m)}``
for s ≤ t. Every token keeps its own running estimate β_t (docs/gating.md §3):

    β_t^{(0)} = 0
    β_t^{(l+1)} = β_t^{(l)} + Σ_m Q_{l,m} Σ_{s≤t} Ω^{(l,m)}_{ts} x_s (y_s − x_sᵀ β_s^{(l)})
    ŷ = x_Tᵀ β_T^{(L)}

i.e. a weighted, preconditioned gradient step on token t's prefix loss
``½ Σ_{s≤t} Ω_ts (y_s − x_sᵀβ)²`` in which each residual uses the estimate β_s of *its own*
token (causal masking: token s never sees the tokens after it). The query takes part with
label 0 (its residual is −x_Tᵀβ_T^{(l)}) from the second layer on. With one layer and one
group this is WPGD: ``ŷ = x_Tᵀ Q Xᵀ(ω ⊙ y)`` with ω_s = Ω_Ts.

This module is written independently of :mod:`wpgd.numerics.nn.gla`: plain NumPy loops over tokens.
The optimum of the recursion over its structured parameters is :mod:`wpgd.numerics.nn.multistep`.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError

__all__ = ["causal_weights", "wpgd_recursion", "wpgd_recursion_predict"]


def causal_weights(log_gates) -> np.ndarray:
    """``Ω_ts = exp(Σ_{s<u≤t} log g_u)`` for s ≤ t, 0 above the diagonal.

    Args:
        log_gates: shape (T,), ≤ 0 (may be −inf).

    Returns:
        shape (T, T), lower triangular with unit diagonal.
    """
    lg = np.asarray(log_gates, dtype=np.float64)
    t_len = lg.size
    out = np.zeros((t_len, t_len))
    for t in range(t_len):
        # Ω_{t,s} for s = t, t−1, …: running sums of log-gates from t down to s+1
        logs = np.concatenate([[0.0], np.cumsum(lg[t:0:-1])])  # s = t, t−1, …, 0
        vals = np.zeros_like(logs)
        ok = logs > -700.0
        vals[ok] = np.exp(logs[ok])
        out[t, t::-1] = vals
    return out


def wpgd_recursion(X, y, layers) -> np.ndarray:
    """Per-token estimates β_t^{(L)} of the causal L-step WPGD recursion.

    Args:
        X: token features, shape (T, d) (zero rows for delimiters; the query row last).
        y: token labels, shape (T,) (0 for delimiters and the query).
        layers: list over layers of lists of groups ``(Q, log_gates)`` with Q of shape (d, d)
            and log_gates of shape (T,).

    Returns:
        β, shape (T, d).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    t_len, d = X.shape
    if y.shape != (t_len,):
        raise InvalidProblemError(f"y must have shape ({t_len},), got {y.shape}")
    beta = np.zeros((t_len, d))
    for groups in layers:
        resid = y - np.einsum("td,td->t", X, beta)  # each token's own residual
        new = beta.copy()
        for Q, log_gates in groups:
            omega = causal_weights(log_gates)
            Q = np.asarray(Q, dtype=np.float64)
            for t in range(t_len):
                grad = (omega[t, : t + 1] * resid[: t + 1]) @ X[: t + 1]  # Σ_s Ω_ts r_s x_s
                new[t] += Q @ grad
        beta = new
    return beta


def wpgd_recursion_predict(X, y, layers) -> float:
    """The query prediction ``x_Tᵀ β_T^{(L)}`` of :func:`wpgd_recursion`."""
    X = np.asarray(X, dtype=np.float64)
    return float(X[-1] @ wpgd_recursion(X, y, layers)[-1])


# ---------------------------------------------------------------------------------------------
# The best L-step recursion of the structured class, by sample-average approximation
# ---------------------------------------------------------------------------------------------
