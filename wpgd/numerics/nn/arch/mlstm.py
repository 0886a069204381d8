"""The mLSTM cell of xLSTM (Beck et al. 2024, arXiv:2405.04517): matrix memory with an
exponential input gate, a sigmoid forget gate and a normaliser.

Head h keeps (in flash-linear-attention's layout, ``S = Cᵀ``)

    S_t = f_t S_{t−1} + i_t k_t v_tᵀ,   n_t = f_t n_{t−1} + i_t k_t,
    h_t = S_tᵀ q_t / max(|n_tᵀ q_t|, 1),   i_t = exp(ĩ_t),  f_t = σ(f̃_t),

with ``ĩ_t = w_i·z_t + b_i`` and ``f̃_t = w_f·z_t + b_f`` per head. The recurrence is evaluated
with the paper's max-stabiliser ``m_t = max(log f_t + m_{t−1}, ĩ_t)``: the states are kept
multiplied by ``e^{−m_t}`` and the normaliser's floor 1 becomes ``e^{−m_t}``, which leaves
``h_t`` unchanged. Materialised (the paper's parallel form): with
``log D_ts = Σ_{s<u≤t} log f_u + ĩ_s`` (s ≤ t) and ``m_t = max_s log D_ts``,
``h_t = Σ_s (q_t·k_s) e^{log D_ts − m_t} v_s / max(|Σ_s (q_t·k_s) e^{log D_ts − m_t}|, e^{−m_t})``.

Differences from the published block (docs/atlas/implementation.md): keys are not scaled by
K^(−1/2) (scale 1 on the queries, as everywhere here), and the up-projection, causal convolution,
learnable skip, GroupNorm and output gate are left out.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._base import ArchModel
from ._kernels import check_heads, check_qkv

__all__ = ["naive_recurrent_mlstm", "parallel_mlstm", "MLSTM"]


def _check(q, k, v, log_i, log_f):
    check_qkv(q, k, v)
    check_heads(log_i, q, "log input gates ĩ")
    check_heads(log_f, q, "log forget gates")
    if not (bool(torch.isfinite(log_i).all()) and bool(torch.isfinite(log_f).all())):
        raise ValueError("the mLSTM gates must be finite (log i = ĩ, log f = logsigmoid(f̃))")
    if bool((log_f > 0).any()):
        raise ValueError("log forget gates must be ≤ 0")


def naive_recurrent_mlstm(q, k, v, log_i, log_f, scale: float = 1.0):
    """Reference recurrent mLSTM with the max-stabiliser, one token at a time.

    Args:
        q, k: [B, T, H, K]; v: [B, T, H, V].
        log_i: input-gate pre-activations ĩ (log i), [B, T, H].
        log_f: log forget gates ≤ 0, [B, T, H].
        scale: multiplies the queries.

    Returns:
        h, [B, T, H, V].
    """
    _check(q, k, v, log_i, log_f)
    b, t_len, h, kd = q.shape
    state = q.new_zeros(b, h, kd, v.shape[-1])
    norm = q.new_zeros(b, h, kd)
    m = q.new_full((b, h), -math.inf)
    outs = []
    for t in range(t_len):
        m_new = torch.maximum(log_f[:, t] + m, log_i[:, t])
        f_s = torch.exp(log_f[:, t] + m - m_new)  # 0 at t = 0 (m = −∞)
        i_s = torch.exp(log_i[:, t] - m_new)
        state = f_s[..., None, None] * state + (i_s[..., None] * k[:, t]).unsqueeze(-1) * v[:, t].unsqueeze(-2)
        norm = f_s[..., None] * norm + i_s[..., None] * k[:, t]
        qt = q[:, t] * scale
        den = torch.maximum(torch.einsum("bhk,bhk->bh", norm, qt).abs(), torch.exp(-m_new))
        outs.append(torch.einsum("bhk,bhkv->bhv", qt, state) / den.unsqueeze(-1))
        m = m_new
    return torch.stack(outs, dim=1)


def parallel_mlstm(q, k, v, log_i, log_f, scale: float = 1.0):
    """Materialised mLSTM (same contract as :func:`naive_recurrent_mlstm`)."""
    _check(q, k, v, log_i, log_f)
    t_len = q.shape[1]
    cum = torch.cumsum(log_f, dim=1).transpose(1, 2)  # [B, H, T]
    causal = torch.ones(t_len, t_len, dtype=torch.bool, device=q.device).tril()
    log_d = cum.unsqueeze(-1) - cum.unsqueeze(-2) + log_i.transpose(1, 2).unsqueeze(-2)  # [B, H, t, s]
    log_d = torch.where(causal, log_d, log_d.new_tensor(-math.inf))
    m = log_d.amax(dim=-1, keepdim=True)
    scores = torch.einsum("bthk,bshk->bhts", q * scale, k) * torch.exp(log_d - m)
    den = torch.maximum(scores.sum(-1, keepdim=True).abs(), torch.exp(-m))
    return torch.einsum("bhts,bshv->bthv", scores / den, v)


class MLSTM(ArchModel):
    """One mLSTM layer: input gate (``w_i`` (H, D), ``b_i`` (H)), forget gate (``w_f``, ``b_f``)."""

    name = "mlstm"

    def _init_gates(self, kw):
        h, d = self.heads, self.token_dim
        self.w_i = nn.Parameter(torch.randn(h, d, **kw) / math.sqrt(d))
        self.b_i = nn.Parameter(torch.zeros(h, **kw))
        self.w_f = nn.Parameter(torch.randn(h, d, **kw) / math.sqrt(d))
        self.b_f = nn.Parameter(torch.full((h,), 3.0, **kw))

    def gate_parameters(self):
        return [self.w_i, self.b_i, self.w_f, self.b_f]

    def init_decay(self, log_decay):
        with torch.no_grad():  # logsigmoid(b_f) = log_decay, input gate e^0 = 1
            self.b_f.fill_(log_decay - math.log(-math.expm1(log_decay)))
            self.b_i.zero_()

    def gates(self, z):
        return {"log_i": torch.einsum("hd,btd->bth", self.w_i, z) + self.b_i,
                "log_f": F.logsigmoid(torch.einsum("hd,btd->bth", self.w_f, z) + self.b_f)}

    def mix(self, q, k, v, g):
        return (naive_recurrent_mlstm if self.mode == "recurrent" else parallel_mlstm)(q, k, v, g["log_i"], g["log_f"])
