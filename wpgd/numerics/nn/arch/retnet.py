"""RetNet retention (Sun et al. 2023, arXiv:2307.08621): fixed per-head decays.

Head h keeps ``S_t = γ_h S_{t−1} + k_t v_tᵀ`` and outputs ``o_t = S_tᵀ q_t`` with the fixed decay
``γ_h = 1 − 2^(−5−h)`` (h = 0, 1, …). Materialised: ``o_t = Σ_{s≤t} γ_h^(t−s) (q_t·k_s) v_s``.
The published multi-scale retention also scales q by K^(−1/2) (flash-linear-attention's default;
ours: ``scale = 1``), normalises each head's output (GroupNorm) and gates it with swish: the
one-layer model keeps those blocks out (docs/atlas/implementation.md). Nothing is learned in the
decay, so under the WPGD construction ω_i ∝ γ_0^(T − t_i) with positions counted over every token.
"""

from __future__ import annotations

import torch

from wpgd.numerics.nn.gla import last_query_gla, parallel_gla

from ._base import ArchModel
from ._kernels import check_qkv

__all__ = ["retnet_log_decays", "naive_recurrent_retnet", "parallel_retnet", "RetNet"]


def retnet_log_decays(heads: int, dtype=torch.float64, device="cpu"):
    """``log γ_h = log(1 − 2^(−5−h))`` for h = 0..H−1, shape (H,) (``log1p``, exact near 1)."""
    h = torch.arange(heads, dtype=dtype, device=device)
    return torch.log1p(-torch.exp2(-5.0 - h))


def naive_recurrent_retnet(q, k, v, scale: float = 1.0):
    """Reference recurrent retention, one token at a time.

    Args:
        q, k: [B, T, H, K]; v: [B, T, H, V].
        scale: multiplies the queries (flash-linear-attention: K^(−1/2); ours 1).

    Returns:
        o, [B, T, H, V].
    """
    check_qkv(q, k, v)
    b, t_len, h, kd = q.shape
    gamma = torch.exp(retnet_log_decays(h, q.dtype, q.device)).view(1, h, 1, 1)
    state = q.new_zeros(b, h, kd, v.shape[-1])
    outs = []
    for t in range(t_len):
        state = gamma * state + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, state))
    return torch.stack(outs, dim=1)


def _log_decays(q):
    b, t_len, h, _ = q.shape
    return retnet_log_decays(h, q.dtype, q.device).view(1, 1, h, 1).expand(b, t_len, h, 1)


def parallel_retnet(q, k, v, scale: float = 1.0):
    """Materialised retention ``o_t = Σ_{s≤t} γ^(t−s) (q_t·k_s) v_s`` (same contract as
    :func:`naive_recurrent_retnet`), through the masked parallel GLA form with a constant gate."""
    check_qkv(q, k, v)
    return parallel_gla(q, k, v, _log_decays(q), scale=scale)


class RetNet(ArchModel):
    """One retention layer (no gate parameters: the decays are fixed)."""

    name = "retnet"

    def mix(self, q, k, v, gates):
        return (naive_recurrent_retnet if self.mode == "recurrent" else parallel_retnet)(q, k, v)

    def mix_last(self, q, k, v, gates):
        return last_query_gla(q[:, -1], k, v, _log_decays(q))


