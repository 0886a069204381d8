"""The gated GD++ recursion: the L-step class with feature-channel writes (docs/multilayer.md).

An L-layer scalar GLA whose lower layers write into the feature channels as well as the label
channel computes, per layer l (all updates from the layer's input; token s ≤ t, gates
``Ω^{(l)}_{ts} = Π_{s<u≤t} g^{(l)}_u``; r_t the label channel, y_t for demonstrations and 0 for
delimiters and the query, x_t = 0 for delimiters):

    r_t ← r_t − x_tᵀ Q_l Σ_{s≤t} Ω^{(l)}_{ts} x_s r_s                 (label write: a WPGD step)
    x_t ← x_t + A_l (Σ_{s≤t} Ω^{(l)}_{ts} x_s x_sᵀ) B_l x_t             (feature write, l < L)
    ŷ = −r_T after the last layer.

With A_l = 0 this is the causal recursion (6.1) of :mod:`wpgd.numerics.core.multilayer`. With A_l B_l = −γI
the feature write is von Oswald et al.'s GD++ step ``x ← (I − γ Σ̂) x`` (here with each token's
gated prefix covariance): later layers then take gradient steps on curvature-corrected features,
i.e. with the data-dependent preconditioner ``(I − γΣ̂)ᵀ Q (I − γΣ̂)``, the preconditioning of the
data that Ahn et al. (2023) found in trained multi-layer linear transformers.

One head realises a layer exactly (:func:`construct_gla`, checked by ``multilayer.gdpp``): key
``W_k = [B_l | 0]``, query ``W_q = [I | 0]``, value ``W_v`` with x-block A_l and label entry −w_l,
so that the label preconditioner is ``Q_l = w_l B_lᵀ``; the gates read only the delimiter flag.
The class of :mod:`wpgd.numerics.nn.gdpp_optimum` is parametrised accordingly.

This module holds the plain NumPy reference (loops over tokens) and a batched torch form.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.multilayer import causal_weights
from wpgd.numerics.nn.multistep import _apply, _omega_torch

__all__ = ["gdpp_recursion", "gdpp_recursion_predict", "gdpp_torch", "construct_gla"]


def gdpp_recursion(X, y, layers) -> tuple[np.ndarray, np.ndarray]:
    """Features and label channel of every token after the gated GD++ recursion.

    Args:
        X: token features, shape (T, d) (zero rows for delimiters, the query last).
        y: token labels, shape (T,) (0 for delimiters and the query).
        layers: list over layers of ``(Q, A, B, log_gates)``: Q, A, B of shape (d, d),
            log_gates of shape (T,), ≤ 0.

    Returns:
        (X after the last layer, shape (T, d); the label channel r, shape (T,)).
    """
    x = np.array(X, dtype=np.float64)
    r = np.array(y, dtype=np.float64)
    t_len, d = x.shape
    if r.shape != (t_len,):
        raise InvalidProblemError(f"y must have shape ({t_len},), got {r.shape}")
    for Q, A, B, log_gates in layers:
        omega = causal_weights(log_gates)
        Q, A, B = (np.asarray(M, dtype=np.float64) for M in (Q, A, B))
        new_x, new_r = x.copy(), r.copy()
        for t in range(t_len):
            grad = sum((omega[t, s] * r[s] * x[s] for s in range(t + 1)), np.zeros(d))
            cov = sum((omega[t, s] * np.outer(x[s], x[s]) for s in range(t + 1)), np.zeros((d, d)))
            new_r[t] -= x[t] @ Q @ grad
            new_x[t] += A @ cov @ B @ x[t]
        x, r = new_x, new_r
    return x, r


def gdpp_recursion_predict(X, y, layers) -> float:
    """The query prediction ``ŷ = −r_T`` of :func:`gdpp_recursion`."""
    return float(-gdpp_recursion(X, y, layers)[1][-1])


def gdpp_torch(Z, Y, layers, omegas=None):
    """Batched, differentiable :func:`gdpp_recursion` on time-major data; the query predictions.

    Args:
        Z: token features, shape (T, B, d), the query last.
        Y: label channel, shape (T, B), ``Y[-1] = 0``.
        layers: list over layers of ``(Q, A, B, log_gates)``; Q, A, B of shape (d, d) or (d,)
            for diagonal matrices; log_gates of shape (T,). A and B of the last layer are unused.
        omegas: optional precomputed Ω per layer (shape (T, T)).

    Returns:
        ŷ, shape (B,).
    """
    import torch


    x, r = Z, Y
    t_len = Z.shape[0]
    last = len(layers) - 1
    for i, (Q, A, B, log_gates) in enumerate(layers):
        omega = _omega_torch(log_gates) if omegas is None else omegas[i]
        if i == last:
            g = omega[-1] @ (x * r.unsqueeze(-1)).reshape(t_len, -1)
            return -(r[-1] - (x[-1] * _apply(Q, g.reshape(x.shape[1:]))).sum(-1))
        g = (omega @ (x * r.unsqueeze(-1)).reshape(t_len, -1)).reshape(x.shape)
        r_new = r - (x * _apply(Q, g)).sum(-1)
        scores = torch.einsum("sbd,tbd->bts", x, _apply(B, x)) * omega  # Ω_ts x_sᵀ B x_t
        x = x + _apply(A, torch.einsum("bts,sbd->tbd", scores, x))
        r = r_new
    raise InvalidProblemError("gdpp_torch needs at least one layer")


def construct_gla(layers, d: int, flag: bool, dtype=None):
    """A scalar :class:`wpgd.numerics.nn.gla.GLAModel` (sum aggregation) that computes the gated GD++ recursion.

    Tokens ``[x | flag | y]`` (the delimiter is the flag token) or ``[x | y]`` without delimiters.
    Layer l: ``W_q = [I_d | 0]``, ``W_k = [B_lᵀ | 0]``, ``W_v`` with x-block A_l and label entry
    −w_l, where ``Q_l = w_l B_lᵀ`` must hold (one head: the label and the feature write share the
    key–query product); the gate ``logsigmoid(W_g z + b_g)`` reads only the flag, so demonstrations
    and the query share a gate and delimiters have their own.

    Args:
        layers: list over layers of ``(w, A, B, log_gate_demo, log_gate_delimiter)``; A, B of shape
            (d, d), w a float, log-gates < 0 (finite: a logsigmoid never reaches 0).
        d: feature dimension.
        flag: whether the prompts carry a delimiter flag channel.
        dtype: torch dtype (default float64).

    Returns:
        The model (one head, key width = token width, ``gating="scalar"``).
    """
    import torch

    from wpgd.numerics.nn.gla import GLAModel

    dtype = torch.float64 if dtype is None else dtype
    D = d + (2 if flag else 1)
    model = GLAModel(D, D, len(layers), "scalar", dtype=dtype)
    with torch.no_grad():
        for layer, (w, A, B, lg_demo, lg_delim) in zip(model.layers, layers):
            if not (lg_demo < 0 and (not flag or lg_delim < 0)):
                raise InvalidProblemError("construct_gla needs log-gates < 0 (a logsigmoid gate is < 1)")
            for p in (layer.W_q, layer.W_k, layer.W_v, layer.W_g, layer.b_g):
                p.zero_()
            layer.W_q[0, :d, :d] = torch.eye(d, dtype=dtype)
            layer.W_k[0, :d, :d] = torch.as_tensor(np.asarray(B, dtype=np.float64).T, dtype=dtype)
            layer.W_v[0, :d, :d] = torch.as_tensor(np.asarray(A, dtype=np.float64), dtype=dtype)
            layer.W_v[0, -1, -1] = -float(w)
            logit = _logit(lg_demo)
            layer.b_g[0, 0] = logit
            if flag:
                layer.W_g[0, 0, d] = _logit(lg_delim) - logit
    return model


def _logit(log_gate: float) -> float:
    """The pre-activation u with logsigmoid(u) = log_gate (< 0): u = log g − log(1 − g)."""
    return float(log_gate - np.log(-np.expm1(log_gate)))
