"""Mamba2's state-space duality layer (SSD; Dao & Gu 2024, arXiv:2405.21060).

Head h keeps ``h_t = exp(Δ_t A_h) h_{t−1} + Δ_t B_t x_tᵀ`` and outputs ``y_t = h_tᵀ C_t`` with
``Δ_t = softplus(w_h·z_t + b_h)`` (``b_h`` = dt_bias), ``A_h = −exp(A_log_h) < 0``, and B, C
shared by the heads (one group, the published default). In flash-linear-attention's terms:
``q = C``, ``k = B``, ``v = x``, log-decay ``Δ_t A_h`` per head, and the input scaled by ``Δ_t``.
Materialised: ``y_t = Σ_{s≤t} exp(A Σ_{s<u≤t} Δ_u) Δ_s (C_t·B_s) x_s``.

Left out of the one-layer model (docs/atlas/implementation.md): the short causal convolution
and SiLU on x, B, C, the D skip connection (``+ D x_t``: the query's own value, which carries no
label), the gated RMSNorm and the output projection (merged into each head's value map).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from wpgd.numerics.nn.gla import last_query_gla, parallel_gla

from ._base import ArchModel
from ._kernels import check_heads, check_qkv

__all__ = ["naive_recurrent_mamba2", "parallel_mamba2", "Mamba2"]


def _check(q, k, v, dt, A):
    check_qkv(q, k, v)
    check_heads(dt, q, "dt")
    if A.shape != (q.shape[2],):
        raise ValueError(f"A must have shape (H,) = ({q.shape[2]},), got {tuple(A.shape)}")
    if bool((dt < 0).any()) or bool((A > 0).any()) or bool(torch.isnan(dt).any()):
        raise ValueError("need Δ ≥ 0 (softplus) and A ≤ 0 (A = −exp(A_log))")


def naive_recurrent_mamba2(q, k, v, dt, A, scale: float = 1.0):
    """Reference recurrent SSD, one token at a time.

    Args:
        q: C, [B, T, H, N]; k: B, [B, T, H, N]; v: x, [B, T, H, P].
        dt: Δ ≥ 0, [B, T, H]; A: ≤ 0, shape (H,).
        scale: multiplies the queries.

    Returns:
        y, [B, T, H, P].
    """
    _check(q, k, v, dt, A)
    b, t_len, h, n = q.shape
    state = q.new_zeros(b, h, n, v.shape[-1])
    outs = []
    for t in range(t_len):
        decay = torch.exp(dt[:, t] * A).view(b, h, 1, 1)
        state = decay * state + (dt[:, t].unsqueeze(-1) * k[:, t]).unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outs.append(torch.einsum("bhn,bhnp->bhp", q[:, t] * scale, state))
    return torch.stack(outs, dim=1)


def parallel_mamba2(q, k, v, dt, A, scale: float = 1.0):
    """Materialised SSD (same contract as :func:`naive_recurrent_mamba2`): the masked parallel
    GLA form with log-decays ``Δ_t A`` and keys ``Δ_t B_t``."""
    _check(q, k, v, dt, A)
    return parallel_gla(q, k * dt.unsqueeze(-1), v, (dt * A).unsqueeze(-1), scale=scale)


class Mamba2(ArchModel):
    """One SSD layer: per-head Δ (``W_dt``, ``dt_bias``) and ``A_log``; B, C shared by the heads.

    ``key_dim`` is the state size N (shared by the heads).
    """

    name = "mamba2"
    shared_qk = True

    def _init_gates(self, kw):
        h, d = self.heads, self.token_dim
        self.W_dt = nn.Parameter(torch.randn(h, d, **kw) / math.sqrt(d))
        self.dt_bias = nn.Parameter(torch.full((h,), math.log(math.expm1(1.0)), **kw))  # Δ ≈ 1
        self.A_log = nn.Parameter(torch.zeros(h, **kw))

    def gate_parameters(self):
        return [self.W_dt, self.dt_bias, self.A_log]

    def init_decay(self, log_decay):
        with torch.no_grad():  # Δ ≈ 1 at the bias, so A ≈ log_decay
            self.dt_bias.fill_(math.log(math.expm1(1.0)))
            self.A_log.fill_(math.log(-log_decay))

    def gates(self, z):
        dt = F.softplus(torch.einsum("hd,btd->bth", self.W_dt, z) + self.dt_bias)
        return {"dt": dt, "A": -torch.exp(self.A_log)}

    def mix(self, q, k, v, g):
        return (naive_recurrent_mamba2 if self.mode == "recurrent" else parallel_mamba2)(q, k, v, g["dt"], g["A"])

    def mix_last(self, q, k, v, g):
        dt = g["dt"]
        return last_query_gla(q[:, -1], k * dt.unsqueeze(-1), v, (dt * g["A"]).unsqueeze(-1))
