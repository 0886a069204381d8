"""RWKV-6 "Finch" time mixing (Peng et al. 2024, arXiv:2404.05892): data-dependent decay per
key channel and a bonus for the current token.

Head h keeps ``S_t = diag(w_t) S_{t−1} + k_t v_tᵀ`` with ``w_t = exp(−exp(d_t))``,
``d_t = W_w z_t + b`` (b = time_decay), and outputs ``o_t = (S_{t−1} + diag(u) k_t v_tᵀ)ᵀ r_t``
(receptance r plays the query). The output reads the state *before* the current decay, so a
token's own decay never reaches its own output. Materialised:
``o_t = Σ_{s<t} Σ_c r_tc k_sc exp(Σ_{s<u<t} log w_uc) v_s + Σ_c r_tc u_c k_tc v_t``.

Differences from the published layer (docs/atlas/implementation.md): no token shift (the
data-dependent lerp with the previous token), the decay map is affine (published: a low-rank
tanh map, which takes the same values on the prompt's token types), and the output GroupNorm,
SiLU gate and projection are left out. Scale 1 (flash-linear-attention's naive default: K^(−1/2)).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from wpgd.numerics.nn.gla import last_query_gla, parallel_gla

from ._base import ArchModel
from ._kernels import check_log_decays, check_qkv

__all__ = ["naive_recurrent_rwkv6", "parallel_rwkv6", "RWKV6"]


def _check(q, k, v, log_w, u):
    check_qkv(q, k, v)
    check_log_decays(log_w, q, per_channel=True)
    if u.shape != (q.shape[2], q.shape[3]):
        raise ValueError(f"u must have shape (H, K) = {(q.shape[2], q.shape[3])}, got {tuple(u.shape)}")


def naive_recurrent_rwkv6(r, k, v, log_w, u, scale: float = 1.0):
    """Reference recurrent RWKV-6, one token at a time.

    Args:
        r, k: [B, T, H, K]; v: [B, T, H, V].
        log_w: log-decays ``−exp(d) ≤ 0``, [B, T, H, K].
        u: bonus, shape (H, K).
        scale: multiplies the receptance.

    Returns:
        o, [B, T, H, V].
    """
    _check(r, k, v, log_w, u)
    b, t_len, h, kd = r.shape
    state = r.new_zeros(b, h, kd, v.shape[-1])
    outs = []
    for t in range(t_len):
        kv = k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outs.append(torch.einsum("bhk,bhkv->bhv", r[:, t] * scale, state + u.unsqueeze(-1) * kv))
        state = torch.exp(log_w[:, t]).unsqueeze(-1) * state + kv
    return torch.stack(outs, dim=1)


def _bonus(r, k, v, u, scale):
    return torch.einsum("bthk,hk,bthk->bth", r * scale, u, k).unsqueeze(-1) * v


def parallel_rwkv6(r, k, v, log_w, u, scale: float = 1.0):
    """Materialised RWKV-6 (same contract as :func:`naive_recurrent_rwkv6`).

    The sum over s < t with decays over (s, t) is the masked parallel GLA form evaluated one
    position early with the next receptance: ``o_t = GLA(r_{·+1}, k, v, log w)_{t−1} + bonus_t``.
    """
    _check(r, k, v, log_w, u)
    nxt = torch.cat([r[:, 1:], torch.zeros_like(r[:, :1])], dim=1) * scale
    early = parallel_gla(nxt, k, v, log_w)  # position t−1 holds the state term of position t
    state_term = torch.cat([torch.zeros_like(early[:, :1]), early[:, :-1]], dim=1)
    return state_term + _bonus(r, k, v, u, scale)


class RWKV6(ArchModel):
    """One RWKV-6 time-mixing layer: decay map ``W_w`` (H, Kh, D), ``time_decay`` (H, Kh), bonus
    ``u`` (H, Kh)."""

    name = "rwkv6"
    key_width_factor = 2

    def _init_gates(self, kw):
        h, kh, d = self.heads, self.head_key_dim, self.token_dim
        self.W_w = nn.Parameter(torch.randn(h, kh, d, **kw) / math.sqrt(d))
        self.time_decay = nn.Parameter(torch.full((h, kh), -3.0, **kw))
        self.u = nn.Parameter(torch.zeros(h, kh, **kw))

    def gate_parameters(self):
        return [self.W_w, self.time_decay]

    def init_decay(self, log_decay):
        with torch.no_grad():  # −exp(b) = log_decay
            self.time_decay.fill_(math.log(-log_decay))

    def gates(self, z):
        return {"log_w": -torch.exp(torch.einsum("hkd,btd->bthk", self.W_w, z) + self.time_decay), "u": self.u}

    def mix(self, q, k, v, g):
        return (naive_recurrent_rwkv6 if self.mode == "recurrent" else parallel_rwkv6)(q, k, v, g["log_w"], g["u"])

    def mix_last(self, q, k, v, g):
        r = q[:, -1]
        out = _bonus(q[:, -1:], k[:, -1:], v[:, -1:], g["u"], 1.0)[:, 0]
        if q.shape[1] > 1:
            out = out + last_query_gla(r, k[:, :-1], v[:, :-1], g["log_w"][:, :-1])
        return out
