"""Gated linear attention (Yang et al. 2024, arXiv:2312.06635): a decay per key channel.

Head h keeps ``S_t = diag(α_t) S_{t−1} + k_t v_tᵀ`` and outputs ``o_t = S_tᵀ q_t`` with
``log α_t = logsigmoid(W_α z_t + b)/16`` (the published gate-logit normaliser 16: every gate is
at least σ(·)^(1/16), so a gate near 0 needs a logit near −16·|log α|). Materialised:
``o_t = Σ_{s≤t} Σ_c q_tc k_sc exp(Σ_{s<u≤t} log α_uc) v_s``. The kernels are
:func:`wpgd.numerics.nn.gla.naive_recurrent_gla` and ``parallel_gla`` (one implementation of the
recurrence); this module adds the published gate parametrisation.

Differences from the published layer (docs/atlas/implementation.md): the gate map is full rank
(published: low rank 16 with a bias; for token widths ≤ 16 that restricts nothing), and the
output norm, output gate and projection are left out (the projection merged into each head's
value map). flash-linear-attention's naive GLA scales q by K^(−1/2) and computes in float32;
ours: scale 1, float64.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from wpgd.numerics.nn.gla import last_query_gla, naive_recurrent_gla, parallel_gla

from ._base import ArchModel

__all__ = ["GATE_LOGIT_NORMALIZER", "GLA"]

GATE_LOGIT_NORMALIZER = 16.0
"""``log α = logsigmoid(·)/16`` (flash-linear-attention's ``gate_logit_normalizer``)."""


class GLA(ArchModel):
    """One GLA layer: gate map ``W_g`` (H, Kh, D) and bias ``b_g`` (H, Kh)."""

    name = "gla"
    key_width_factor = 2

    def _init_gates(self, kw):
        h, kh, d = self.heads, self.head_key_dim, self.token_dim
        self.W_g = nn.Parameter(torch.randn(h, kh, d, **kw) / math.sqrt(d))
        self.b_g = nn.Parameter(torch.full((h, kh), 3.0, **kw))

    def gate_parameters(self):
        return [self.W_g, self.b_g]

    def init_decay(self, log_decay):
        # logsigmoid(b)/16 = log_decay  ⇔  b = logit(exp(16·log_decay))
        lg = GATE_LOGIT_NORMALIZER * log_decay
        with torch.no_grad():
            self.b_g.fill_(lg - math.log(-math.expm1(lg)))

    def gates(self, z):
        return {"log_g": F.logsigmoid(torch.einsum("hkd,btd->bthk", self.W_g, z) + self.b_g) / GATE_LOGIT_NORMALIZER}

    def mix(self, q, k, v, g):
        return (naive_recurrent_gla if self.mode == "recurrent" else parallel_gla)(q, k, v, g["log_g"])

    def mix_last(self, q, k, v, g):
        return last_query_gla(q[:, -1], k, v, g["log_g"])
