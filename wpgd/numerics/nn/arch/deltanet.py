"""DeltaNet (Schlag et al. 2021; Yang et al. 2024, arXiv:2406.06484): the delta-rule update.

Head h keeps (flash-linear-attention's layout ``S ∈ R^{K×V}``)

    S_t = (I − β_t k_t k_tᵀ) α_t S_{t−1} + β_t k_t v_tᵀ,   o_t = S_tᵀ q_t,

with ``β_t = σ(w_β·z_t + b_β)`` and unit-norm queries and keys (the published L2 normalisation);
``α_t = 1`` for DeltaNet and ``α_t = exp(g_t)`` for Gated DeltaNet
(:mod:`wpgd.numerics.nn.arch.gated_deltanet`). The state is multiplied by a matrix that depends
on the key, so the prediction is not a WPGD predictor (no fixed weights ω): these models are
trained only.

Materialised (the "UT" form): the state is ``S_t = Σ_{s≤t} e^{G_t − G_s} k_s u_sᵀ`` (``G`` the
cumulative log-decay) with pseudo-values ``u_s = β_s (v_s − Σ_{r<s} e^{G_s − G_r} (k_s·k_r) u_r)``,
i.e. ``(I + A) U = diag(β) V`` with the strictly lower-triangular
``A_sr = β_s e^{G_s − G_r} (k_s·k_r)``: one unit-triangular solve, then
``o_t = Σ_{s≤t} e^{G_t − G_s} (q_t·k_s) u_s``.

Left out (docs/atlas/implementation.md): the short convolutions and SiLU on q, k, v, the output
norm/gate and projection.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._base import ArchModel
from ._kernels import causal_decays, check_heads, check_log_decays, check_qkv

__all__ = ["naive_recurrent_delta_rule", "parallel_delta_rule", "DeltaNet"]


def _check(q, k, v, beta, log_g):
    check_qkv(q, k, v)
    check_heads(beta, q, "beta")
    if bool(torch.isnan(beta).any()):
        raise ValueError("beta contains NaN")
    if log_g is not None:
        check_log_decays(log_g, q, per_channel=False)


def naive_recurrent_delta_rule(q, k, v, beta, log_g=None, scale: float = 1.0):
    """Reference recurrent (gated) delta rule, one token at a time.

    Args:
        q, k: [B, T, H, K]; v: [B, T, H, V].
        beta: writing strengths, [B, T, H].
        log_g: log-decays ≤ 0, [B, T, H], or None (DeltaNet: no decay).
        scale: multiplies the queries.

    Returns:
        o, [B, T, H, V].
    """
    _check(q, k, v, beta, log_g)
    b, t_len, h, kd = q.shape
    state = q.new_zeros(b, h, kd, v.shape[-1])
    outs = []
    for t in range(t_len):
        if log_g is not None:
            state = torch.exp(log_g[:, t])[..., None, None] * state
        kt = k[:, t]
        u = beta[:, t, :, None] * (v[:, t] - torch.einsum("bhk,bhkv->bhv", kt, state))
        state = state + kt.unsqueeze(-1) * u.unsqueeze(-2)
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, state))
    return torch.stack(outs, dim=1)


def parallel_delta_rule(q, k, v, beta, log_g=None, scale: float = 1.0):
    """Materialised (gated) delta rule through the unit-triangular solve (same contract as
    :func:`naive_recurrent_delta_rule`)."""
    _check(q, k, v, beta, log_g)
    b, t_len, h, _ = q.shape
    if log_g is None:
        log_g = q.new_zeros(b, t_len, h)
    decay = causal_decays(log_g, dim=1).permute(0, 3, 1, 2)  # [B, H, t, s]
    kk = torch.einsum("bthk,bshk->bhts", k, k)
    strict = torch.ones(t_len, t_len, dtype=torch.bool, device=q.device).tril(-1)
    beta_h = beta.transpose(1, 2)  # [B, H, T]
    a = torch.where(strict, beta_h.unsqueeze(-1) * decay * kk, torch.zeros_like(kk))
    eye = torch.eye(t_len, dtype=q.dtype, device=q.device)
    rhs = beta_h.unsqueeze(-1) * v.transpose(1, 2)  # [B, H, T, V]
    u = torch.linalg.solve_triangular(eye + a, rhs, upper=False, unitriangular=True)
    scores = torch.einsum("bthk,bshk->bhts", q * scale, k) * decay
    return torch.einsum("bhts,bhsv->bthv", scores, u)


def l2_normalise(x):
    """``x / ‖x‖`` over the last axis (0 stays 0): the published query/key normalisation."""
    return F.normalize(x, dim=-1)


class DeltaNet(ArchModel):
    """One DeltaNet layer: writing strength ``β = σ(w_β·z + b_β)`` per head, unit-norm q and k."""

    name = "deltanet"

    def _init_gates(self, kw):
        h, d = self.heads, self.token_dim
        self.w_beta = nn.Parameter(torch.randn(h, d, **kw) / math.sqrt(d))
        self.b_beta = nn.Parameter(torch.zeros(h, **kw))

    def gate_parameters(self):
        return [self.w_beta, self.b_beta]

    def projections(self, z, label_only=False):
        q, k, v = super().projections(z, label_only)
        return l2_normalise(q), l2_normalise(k), v

    def log_decays(self, z):
        """Log-decays per head, [B, T, H]; None: DeltaNet does not decay."""
        return None

    def gates(self, z):
        return {"beta": torch.sigmoid(torch.einsum("hd,btd->bth", self.w_beta, z) + self.b_beta),
                "log_g": self.log_decays(z)}

    def mix(self, q, k, v, g):
        kernel = naive_recurrent_delta_rule if self.mode == "recurrent" else parallel_delta_rule
        return kernel(q, k, v, g["beta"], g["log_g"])
