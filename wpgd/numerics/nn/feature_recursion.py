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
so that the label preconditioner is ``Q_l = w_l B_lᵀ``; the gates read only the delimiter codes.
The class of :mod:`wpgd.numerics.nn.gdpp_optimum` is parametrised accordingly.

**Label rescaling** (gated GD++ with label rescaling, docs/theory.md §6.4): one more key
coordinate of the same head, whose query reads the label channel (``q_t = r_t``) and whose key
reads the delimiter code (``k_δ = c_{l,j}`` for a delimiter of code j), with the value writing
the label channel from the code, adds

    r_t ← r_t + (Σ_{δ≤t} c_{l,δ} Ω^{(l)}_{tδ}) r_t                     (δ over delimiter tokens)

to every token: delimiters have x = 0 and y = 0, so their key enters no other score and their
own query is zero (they stay ``[0 | code | 0]`` in every layer). With one shared flag there is
one coefficient per layer; with one code per boundary one per boundary and layer. The label
channel of the tokens after a delimiter is rescaled by a gated amount, separately from the
gates (which weight a token's label and its feature covariance alike).

This module holds the plain NumPy reference (loops over tokens) and a batched torch form.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.multilayer import causal_weights
from wpgd.numerics.nn.multistep import _apply, _omega_torch

__all__ = ["gdpp_recursion", "gdpp_recursion_predict", "gdpp_torch", "rescale_profile", "construct_gla"]


def gdpp_recursion(X, y, layers) -> tuple[np.ndarray, np.ndarray]:
    """Features and label channel of every token after the gated GD++ recursion.

    Args:
        X: token features, shape (T, d) (zero rows for delimiters, the query last).
        y: token labels, shape (T,) (0 for delimiters and the query).
        layers: list over layers of ``(Q, A, B, log_gates)`` or ``(Q, A, B, log_gates, c)``:
            Q, A, B of shape (d, d), log_gates of shape (T,), ≤ 0, and the label-rescaling
            coefficient of every token, c of shape (T,) (non-zero only at delimiters in a
            member the GLA realises): ``r_t ← r_t + (Σ_{s≤t} c_s Ω_ts) r_t``.

    Returns:
        (X after the last layer, shape (T, d); the label channel r, shape (T,)).
    """
    x = np.array(X, dtype=np.float64)
    r = np.array(y, dtype=np.float64)
    t_len, d = x.shape
    if r.shape != (t_len,):
        raise InvalidProblemError(f"y must have shape ({t_len},), got {r.shape}")
    for layer in layers:
        Q, A, B, log_gates = layer[:4]
        c = np.zeros(t_len) if len(layer) < 5 else np.asarray(layer[4], dtype=np.float64)
        if c.shape != (t_len,):
            raise InvalidProblemError(f"the rescaling coefficients must have shape ({t_len},), got {c.shape}")
        omega = causal_weights(log_gates)
        Q, A, B = (np.asarray(M, dtype=np.float64) for M in (Q, A, B))
        new_x, new_r = x.copy(), r.copy()
        for t in range(t_len):
            grad = sum((omega[t, s] * r[s] * x[s] for s in range(t + 1)), np.zeros(d))
            cov = sum((omega[t, s] * np.outer(x[s], x[s]) for s in range(t + 1)), np.zeros((d, d)))
            scale = sum(omega[t, s] * c[s] for s in range(t + 1))
            new_r[t] += scale * r[t] - x[t] @ Q @ grad
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
        layers: list over layers of ``(Q, A, B, log_gates)`` or ``(Q, A, B, log_gates, m)``; Q, A, B
            of shape (d, d) or (d,) for diagonal matrices; log_gates of shape (T,); m of shape
            (T,) the label-rescaling profile ``m_t = Σ_{δ≤t} c_δ Ω_tδ`` (:func:`rescale_profile`:
            the delimiters are not tokens here). A and B of the last layer are unused.
        omegas: optional precomputed Ω per layer (shape (T, T)).

    Returns:
        ŷ, shape (B,).
    """
    import torch


    x, r = Z, Y
    t_len = Z.shape[0]
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        Q, A, B, log_gates = layer[:4]
        m = layer[4] if len(layer) > 4 else None
        omega = _omega_torch(log_gates) if omegas is None else omegas[i]
        if i == last:
            g = omega[-1] @ (x * r.unsqueeze(-1)).reshape(t_len, -1)
            r_q = r[-1] if m is None else r[-1] * (1 + m[-1])
            return -(r_q - (x[-1] * _apply(Q, g.reshape(x.shape[1:]))).sum(-1))
        g = (omega @ (x * r.unsqueeze(-1)).reshape(t_len, -1)).reshape(x.shape)
        r_new = (r if m is None else r * (1 + m).unsqueeze(-1)) - (x * _apply(Q, g)).sum(-1)
        scores = torch.einsum("sbd,tbd->bts", x, _apply(B, x)) * omega  # Ω_ts x_sᵀ B x_t
        x = x + _apply(A, torch.einsum("bts,sbd->tbd", scores, x))
        r = r_new
    raise InvalidProblemError("gdpp_torch needs at least one layer")


def rescale_profile(omega, positions, coeffs, first_log_gates):
    """The label-rescaling profile ``m_t = Σ_k c_k Ω_{tδ_k}`` on the folded token layout (torch).

    In the fitted classes the delimiters are not tokens: delimiter k's gate is folded into the
    first demonstration after it, at position ``p_k``. Then ``Ω_{tδ_k}`` (which leaves the
    delimiter's own gate out) is ``Ω_{t p_k}`` times that demonstration's own gate.

    Args:
        omega: Ω of the folded layout, shape (T, T) (zero above the diagonal).
        positions: p_k, the folded position after each delimiter.
        coeffs: c_k, one per delimiter (tensor or floats).
        first_log_gates: the log-gate of the token at p_k without the delimiter's part.

    Returns:
        m, shape (T,) (0 before the first delimiter).
    """
    import torch

    m = torch.zeros(omega.shape[0], dtype=omega.dtype, device=omega.device)
    for p, c, lg in zip(positions, coeffs, first_log_gates):
        m = m + c * omega[:, p] * torch.exp(torch.as_tensor(lg, dtype=omega.dtype))
    return m


def construct_gla(layers, d: int, flag: bool, dtype=None, codes: int = 1):
    """A scalar :class:`wpgd.numerics.nn.gla.GLAModel` (sum aggregation) that computes the gated GD++ recursion.

    Tokens ``[x | codes | y]`` (a delimiter has one code coordinate set: the flag when
    ``codes = 1``, its boundary's code otherwise) or ``[x | y]`` without delimiters.
    Layer l: ``W_q = [I_d | 0]``, ``W_k = [B_lᵀ | 0]``, ``W_v`` with x-block A_l and label entry
    −w_l, where ``Q_l = w_l B_lᵀ`` must hold (one head: the label and the feature write share the
    key–query product); the gate ``logsigmoid(W_g z + b_g)`` reads only the codes, so demonstrations
    and the query share a gate and delimiters have their own (one per code). The label
    rescaling uses key coordinate d: ``W_q[d, y] = 1``, ``W_k[d, code j] = c_{l,j}``,
    ``W_v[y, code j] = 1`` (module docstring).

    Args:
        layers: list over layers of ``(w, A, B, log_gate_demo, log_gate_delimiter)`` or
            ``(w, A, B, log_gate_demo, log_gate_delimiter, c)``; A, B of shape (d, d), w a float,
            log-gates < 0 (finite: a logsigmoid never reaches 0); the delimiter log-gate and c
            are floats (shared by every code) or sequences of one value per code.
        d: feature dimension.
        flag: whether the prompts carry delimiter code channels.
        dtype: torch dtype (default float64).
        codes: number of delimiter code coordinates (1: a shared flag).

    Returns:
        The model (one head, key width = token width, ``gating="scalar"``).
    """
    import torch

    from wpgd.numerics.nn.gla import GLAModel

    dtype = torch.float64 if dtype is None else dtype
    nc = int(codes) if flag else 0
    if flag and nc < 1:
        raise InvalidProblemError(f"construct_gla needs codes ≥ 1, got {codes}")
    D = d + nc + 1
    model = GLAModel(D, D, len(layers), "scalar", dtype=dtype)
    with torch.no_grad():
        for layer, spec in zip(model.layers, layers):
            w, A, B, lg_demo, lg_delim = spec[:5]
            lg_delim = np.broadcast_to(np.asarray(lg_delim, dtype=np.float64), (max(nc, 1),))
            rescale = None if len(spec) < 6 else np.broadcast_to(np.asarray(spec[5], dtype=np.float64), (max(nc, 1),))
            if not (lg_demo < 0 and (not flag or bool(np.all(lg_delim < 0)))):
                raise InvalidProblemError("construct_gla needs log-gates < 0 (a logsigmoid gate is < 1)")
            if rescale is not None and not flag:
                raise InvalidProblemError("the label rescaling needs delimiter tokens (flag=True)")
            for p in (layer.W_q, layer.W_k, layer.W_v, layer.W_g, layer.b_g):
                p.zero_()
            layer.W_q[0, :d, :d] = torch.eye(d, dtype=dtype)
            layer.W_k[0, :d, :d] = torch.as_tensor(np.asarray(B, dtype=np.float64).T, dtype=dtype)
            layer.W_v[0, :d, :d] = torch.as_tensor(np.asarray(A, dtype=np.float64), dtype=dtype)
            layer.W_v[0, -1, -1] = -float(w)
            logit = _logit(lg_demo)
            layer.b_g[0, 0] = logit
            for j in range(nc):
                layer.W_g[0, 0, d + j] = _logit(float(lg_delim[j])) - logit
                if rescale is not None:
                    layer.W_k[0, d, d + j] = float(rescale[j])
                    layer.W_v[0, -1, d + j] = 1.0
            if rescale is not None:
                layer.W_q[0, d, -1] = 1.0
    return model


def _logit(log_gate: float) -> float:
    """The pre-activation u with logsigmoid(u) = log_gate (< 0): u = log g − log(1 − g)."""
    return float(log_gate - np.log(-np.expm1(log_gate)))
