"""The one-layer model that every architecture shares: in-projections from the token, the
architecture's token mixing, and the read-out of the query's label channel.

Tokens ``z_t ∈ R^D`` carry the label **last** (``wpgd.numerics.nn.prompts``). Per head h,
``q = W_q z``, ``k = W_k z`` (width ``Kh``), ``v = W_v z`` (width D: each head writes the
residual stream, which is a merged output projection), and the layer returns
``z + a·Σ_h o_h`` with ``a = 1`` ("sum") or ``1/T`` ("mean"). The prediction for the final
(query) position is minus its label channel, ``ŷ = −(z_T + a·Σ_h o_{T,h})_D``, the read-out
convention of :class:`wpgd.numerics.nn.gla.GLAModel`; only the label row of ``W_v`` enters it.

A subclass sets :attr:`name` and :attr:`decay`, creates its gate parameters in
:meth:`_init_gates`, computes its gate tensors in :meth:`gates` and runs its kernels in
:meth:`mix` (every position) and :meth:`mix_last` (the query only).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.vocabulary import ARCHITECTURES
from wpgd.numerics.nn.train_config import tie_qk_

__all__ = ["AGGREGATIONS", "MODES", "ArchModel"]

AGGREGATIONS = ("sum", "mean")
MODES = ("parallel", "recurrent")


class ArchModel(nn.Module):
    """One layer of a published token mixer on a residual stream of width ``token_dim``.

    Args:
        token_dim: D (features, optional context and delimiter coordinates, label last).
        heads: H.
        key_dim: total key width over heads (divisible by H); None = the architecture's
            :meth:`default_key_dim`.
        dtype: parameter dtype (float64 by default).
        device: where the parameters live.
        aggregation: "sum" (the recurrence as published) or "mean" (the output divided by the
            sequence length T: the same functions, reparametrised for training; see
            ``wpgd.numerics.nn.gla.GLALayer``).
        mode: "parallel" (materialised causal form; the default) or "recurrent" (the naive
            recurrent reference, a Python loop over T).

    Raises:
        InvalidProblemError: a size below 1, H not dividing the key width, or an unknown
            aggregation or mode.
    """

    name: ClassVar[str] = ""
    """The architecture's name in :data:`wpgd.numerics.core.vocabulary.ARCHITECTURES`."""
    shared_qk: ClassVar[bool] = False
    """Queries and keys shared by all heads (Mamba2's B and C with one group)."""
    key_width_factor: ClassVar[int] = 1
    """Default key width per head, in units of the token width."""

    def __init__(self, token_dim: int, *, heads: int = 1, key_dim: int | None = None,
                 dtype=torch.float64, device="cpu", aggregation: str = "sum", mode: str = "parallel"):
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise InvalidProblemError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
        if mode not in MODES:
            raise InvalidProblemError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        for what, val in (("token_dim", token_dim), ("heads", heads)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise InvalidProblemError(f"{what} must be an integer ≥ 1, got {val!r}")
        key_dim = self.default_key_dim(token_dim, heads) if key_dim is None else key_dim
        if isinstance(key_dim, bool) or not isinstance(key_dim, int) or key_dim < 1:
            raise InvalidProblemError(f"key_dim must be an integer ≥ 1, got {key_dim!r}")
        if not self.shared_qk and key_dim % heads:
            raise InvalidProblemError(f"the key width {key_dim} is not divisible by the number of heads {heads}")
        self.token_dim, self.heads, self.key_dim = token_dim, heads, key_dim
        self.head_key_dim = key_dim if self.shared_qk else key_dim // heads
        self.aggregation, self.mode = aggregation, mode
        kw = {"dtype": dtype, "device": device}
        qk_heads = 1 if self.shared_qk else heads
        d = token_dim
        self.W_q = nn.Parameter(torch.randn(qk_heads, self.head_key_dim, d, **kw) / math.sqrt(d))
        self.W_k = nn.Parameter(torch.randn(qk_heads, self.head_key_dim, d, **kw) / math.sqrt(d))
        self.W_v = nn.Parameter(torch.randn(heads, d, d, **kw) / d)
        self._init_gates(kw)
        self.register_buffer("gate_mask", None)

    def restrict_gates(self, keep) -> None:
        """Let every gate/decay/Δ/input-gate map read only the token coordinates where ``keep`` is
        true (shape (D,); None = the whole token, as published). With the context and delimiter
        coordinates only, the gates take one value per token type, as under the WPGD construction:
        a diagnostic for whether a trained model gains from gates that read features or labels."""
        self.gate_mask = None if keep is None else torch.as_tensor(keep, dtype=self.W_q.dtype,
                                                                   device=self.W_q.device).reshape(self.token_dim)

    def gate_input(self, z):
        """The tokens as the gate maps see them (:meth:`restrict_gates`)."""
        return z if self.gate_mask is None else z * self.gate_mask

    @property
    def decay(self) -> str:
        """What decays (the vocabulary's ``Architecture.gating``): "fixed", "scalar", "vector" or "delta"."""
        return ARCHITECTURES[self.name].gating

    @classmethod
    def default_key_dim(cls, token_dim: int, heads: int) -> int:
        """Total key width when none is given: ``key_width_factor·D`` per head (shared: once)."""
        return cls.key_width_factor * token_dim * (1 if cls.shared_qk else heads)

    # -- what a subclass provides -------------------------------------------------------------
    def _init_gates(self, kw: dict) -> None:
        """Create the gate parameters (none by default)."""

    def gate_parameters(self) -> list:
        """The decay/gate parameters (the trainer gives them their own learning-rate group)."""
        return []

    def init_decay(self, log_decay: float) -> None:
        """Set the gate biases so that a token's initial log-decay is about ``log_decay`` (< 0)."""

    def gates(self, z) -> dict:
        """The gate tensors of tokens ``z`` [B, T, D] (names per architecture)."""
        return {}

    def mix(self, q, k, v, gates: dict):
        """Outputs at every position, [B, T, H, V]."""
        raise NotImplementedError

    def mix_last(self, q, k, v, gates: dict):
        """Output at the final position, [B, H, V] (default: the last row of :meth:`mix`)."""
        return self.mix(q, k, v, gates)[:, -1]

    # -- shared machinery -----------------------------------------------------------------------
    def _check_tokens(self, tokens) -> None:
        if tokens.ndim != 3 or tokens.shape[-1] != self.token_dim:
            raise ValueError(f"tokens must be [B, T, {self.token_dim}], got {tuple(tokens.shape)}")
        if tokens.shape[1] < 1:
            raise ValueError("a prompt needs at least one token")

    def projections(self, z, label_only: bool = False):
        """(q, k, v) of tokens z [B, T, D]: [B, T, H, Kh] twice and [B, T, H, V] with V = D (1 with
        ``label_only``: the label row of ``W_v``)."""
        q = torch.einsum("hkd,btd->bthk", self.W_q, z)
        k = torch.einsum("hkd,btd->bthk", self.W_k, z)
        if self.shared_qk:
            q, k = (x.expand(-1, -1, self.heads, -1) for x in (q, k))
        wv = self.W_v[:, -1:, :] if label_only else self.W_v
        v = torch.einsum("hed,btd->bthe", wv, z)
        return q, k, v

    def output_scale(self, seq_len: int) -> float:
        """``a``: 1 ("sum") or 1/T ("mean")."""
        return 1.0 if self.aggregation == "sum" else 1.0 / seq_len

    def forward(self, tokens):
        """The residual stream after the layer: tokens [B, T, D] → [B, T, D]."""
        self._check_tokens(tokens)
        q, k, v = self.projections(tokens)
        o = self.mix(q, k, v, self.gates(self.gate_input(tokens))).sum(dim=2)
        return tokens + self.output_scale(tokens.shape[1]) * o

    def predict(self, tokens):
        """Prediction at the query (final) position, ``−(z_T + a·Σ_h o_{T,h})_D``, shape [B]."""
        self._check_tokens(tokens)
        q, k, v = self.projections(tokens, label_only=True)
        g = self.gates(self.gate_input(tokens))
        o = (self.mix(q, k, v, g)[:, -1] if self.mode == "recurrent" else self.mix_last(q, k, v, g)).sum(dim=1)
        return -(tokens[:, -1, -1] + self.output_scale(tokens.shape[1]) * o[:, 0])

    def tie_qk(self, signed_groups: bool = False) -> None:
        """Start ``W_q`` as a random (semi-)orthogonal matrix per head and ``W_k`` equal to it (the
        trainer's ``init_tied_qk``: the score form starts at the identity on the token space).

        ``signed_groups``: the trainer's ``init_signed_groups`` for per-channel decays — the key
        channels of each head start as two groups, each its own (semi-)orthogonal matrix, the second
        with ``W_q = −W_k`` scaled by ``SIGNED_GROUP_SCALE`` (the u and v groups of ω = u − v; why:
        docs/training.md, "Vector models")."""
        tie_qk_(self.W_q, self.W_k, signed_groups=signed_groups)
