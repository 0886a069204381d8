"""Gated DeltaNet (Yang, Kautz & Hatamizadeh 2024, arXiv:2412.06464): the delta rule with a
Mamba2-style scalar decay per head,

    S_t = (I − β_t k_t k_tᵀ) α_t S_{t−1} + β_t k_t v_tᵀ,
    log α_t = −exp(A_log)·softplus(w_a·z_t + dt_bias).

The kernels are :func:`wpgd.numerics.nn.arch.deltanet.naive_recurrent_delta_rule` and
``parallel_delta_rule`` with ``log_g = log α``. No WPGD form (trained only).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .deltanet import DeltaNet

__all__ = ["GatedDeltaNet"]


class GatedDeltaNet(DeltaNet):
    """One Gated DeltaNet layer: β as DeltaNet, decay map ``w_a`` (H, D), ``dt_bias``, ``A_log`` (H)."""

    name = "gated-deltanet"

    def _init_gates(self, kw):
        super()._init_gates(kw)
        h, d = self.heads, self.token_dim
        self.w_a = nn.Parameter(torch.randn(h, d, **kw) / math.sqrt(d))
        self.dt_bias = nn.Parameter(torch.full((h,), math.log(math.expm1(1.0)), **kw))
        self.A_log = nn.Parameter(torch.zeros(h, **kw))

    def gate_parameters(self):
        return super().gate_parameters() + [self.w_a, self.dt_bias, self.A_log]

    def init_decay(self, log_decay):
        with torch.no_grad():  # softplus ≈ 1 at the bias, so log α ≈ −exp(A_log) = log_decay
            self.dt_bias.fill_(math.log(math.expm1(1.0)))
            self.A_log.fill_(math.log(-log_decay))

    def log_decays(self, z):
        return -torch.exp(self.A_log) * F.softplus(torch.einsum("hd,btd->bth", self.w_a, z) + self.dt_bias)
