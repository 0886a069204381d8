"""Gated linear attention (GLA) in PyTorch, in flash-linear-attention's conventions.

Shapes are ``[batch, time, heads, dim]``. One head with key width ``K`` and value width ``V``
keeps a state ``S_t ∈ R^{K×V}`` and, causally,

    S_t = diag(g_t) S_{t-1} + k_t v_tᵀ,        o_t = S_tᵀ q_t            (recurrent form)

    o_t = Σ_{s ≤ t} Σ_c q_{tc} k_{sc} D_{tsc} v_s,
    D_{tsc} = exp(Σ_{s < u ≤ t} log g_{uc}) = exp(C_{tc} − C_{sc}),  C = cumsum(log g)   (parallel form)

with per-key-channel log-decays ``log g ≤ 0`` (``logsigmoid`` of an affine map of the token).
*Scalar gating* is one log-decay per head broadcast over the key channels (``log_g`` of last
size 1), *vector gating* one per key channel, *no gating* (linear attention) ``log g ≡ 0``.
The parallel form exponentiates differences of cumulative sums of logs after masking the
non-causal pairs to ``−∞``; it never divides by a cumulative gate product, so long prompts
with strong decay cannot overflow.

Model wiring (what the WPGD theory needs, docs/gating.md):

* tokens ``z_t ∈ R^D``; the label is the **last** coordinate (``D = token_dim``), the query
  token carries label 0;
* each layer adds the sum of its heads' outputs to the residual stream,
  ``z_t ← z_t + Σ_h o_{t,h}`` with ``q = W_q z``, ``k = W_k z``, ``v = W_v z`` (value width D);
* read-out convention: ``predict(tokens) = −z_{T, D}``, minus the label channel of the final
  position after the last layer. A WPGD layer writes ``−x_tᵀ P (…)`` into the label channel, so
  demonstrations hold the residual ``y − ŷ`` and the query holds ``−ŷ`` (the convention of
  von Oswald et al. and Ahn et al.); see :mod:`wpgd.numerics.nn.construct` for the exact weights.

Example (shapes only):

>>> import torch
>>> m = GLAModel(token_dim=4, key_dim=6, gating="vector", dtype=torch.float64)
>>> m.predict(torch.zeros(2, 5, 4, dtype=torch.float64)).shape
torch.Size([2])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from wpgd.numerics.core.vocabulary import GATINGS, vector_key_width

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_GATE_BIAS",
    "GATINGS",
    "MODES",
    "naive_recurrent_gla",
    "parallel_gla",
    "chunked_gla",
    "last_query_gla",
    "GLALayer",
    "GLAModel",
    "default_key_width",
    "relative_rms",
]

DEFAULT_GATE_BIAS = 3.0
"""Initial gate bias of a :class:`GLALayer` unless ``gate_bias`` is given (g = σ(3) ≈ 0.95)."""
MODES = ("parallel", "recurrent", "chunked")
AGGREGATIONS = ("sum", "mean")


def _check_qkvg(q, k, v, log_g, trusted_gates: bool = False):
    if q.ndim != 4 or k.shape != q.shape:
        raise ValueError(f"q and k must both be [B, T, H, K], got {tuple(q.shape)} and {tuple(k.shape)}")
    if v.ndim != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"v must be [B, T, H, V] with the B, T, H of q, got {tuple(v.shape)}")
    if log_g.ndim != 4 or log_g.shape[:3] != q.shape[:3] or log_g.shape[3] not in (1, q.shape[3]):
        raise ValueError(f"log_g must be [B, T, H, K] or [B, T, H, 1], got {tuple(log_g.shape)}")
    if not trusted_gates:
        _check_log_gates(log_g)


def _check_log_gates(log_g):
    """Log-decays must be ≤ 0 (gates in [0, 1]); −∞ (a gate of exactly 0) is allowed. NaN passes
    through unchanged (training reports a non-finite loss)."""
    if bool((log_g > 0).any()):
        worst = float(log_g.detach().max())
        raise ValueError(f"log-gates must be ≤ 0 (gates g = exp(log g) in [0, 1]); got a log-gate of {worst:.6g}")


def _masked_decays(log_g, dim: int, causal, trusted_gates: bool = False):
    """``exp(Σ_{s<u≤t} log g_u)`` for every pair (t, s) along ``dim``, as a [..., t, s, ...] tensor
    with the two time axes at ``dim`` and ``dim + 1``; entries where ``causal`` is False are 0.

    Differences of cumulative sums of log-gates give the exponent; a gate of exactly 0
    (log g = −∞) would make them −∞ − (−∞) = NaN, so zero gates are counted separately: the decay
    is 0 whenever a zero gate lies in (s, t], and ``exp(C'_t − C'_s)`` otherwise with ``C'`` the
    cumulative sum of the finite log-gates. Values and gradients stay finite and equal those of the
    recurrent form (whose ``exp(−∞) = 0`` passes a zero gradient to the −∞ entries).
    """
    zero = torch.isneginf(log_g)
    has_zero = False if trusted_gates else bool(zero.any())  # trusted: no −∞, and no device sync
    cum = torch.cumsum(torch.where(zero, torch.zeros_like(log_g), log_g) if has_zero else log_g, dim=dim)
    diff = cum.unsqueeze(dim + 1) - cum.unsqueeze(dim)  # [.., t, s, ..] = C'_t − C'_s
    shape = [1] * diff.ndim
    shape[dim], shape[dim + 1] = causal.shape
    keep = causal.reshape(shape)
    if has_zero:
        count = torch.cumsum(zero.to(log_g.dtype), dim=dim)
        keep = keep & (count.unsqueeze(dim + 1) == count.unsqueeze(dim))  # no zero gate in (s, t]
    return torch.exp(diff.masked_fill(~keep, -math.inf))  # a scalar fill: no host-to-device copy (sync)


def naive_recurrent_gla(q, k, v, log_g, scale: float = 1.0, *, trusted_gates: bool = False):
    """Reference recurrent GLA, one time step at a time (obviously correct, O(T·K·V)).

    Args:
        q: queries, shape [B, T, H, K].
        k: keys, shape [B, T, H, K].
        v: values, shape [B, T, H, V].
        log_g: log-decays ``≤ 0``, shape [B, T, H, K] (vector gating) or [B, T, H, 1]
            (scalar gating, broadcast over K).
        scale: multiplies the queries (flash-linear-attention uses K^-1/2; the theory uses 1).
        trusted_gates: the log-gates are a log-sigmoid of finite logits (``GLALayer``'s), so
            ≤ 0 and never −∞: the check that they are ≤ 0 and (in the parallel and chunked
            forms) the search for zero gates are skipped. Both read a value back from the
            device, so on CUDA each one waits for the computation before it. Default False:
            the log-gates are checked, and a log-gate > 0 raises ``ValueError``.

    Returns:
        o, shape [B, T, H, V].
    """
    _check_qkvg(q, k, v, log_g, trusted_gates)
    b, t_len, h, kd = q.shape
    state = q.new_zeros(b, h, kd, v.shape[-1])
    outs = []
    for t in range(t_len):
        decay = torch.exp(log_g[:, t]).unsqueeze(-1)  # [B, H, K or 1, 1]
        state = decay * state + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, state))
    return torch.stack(outs, dim=1)


def parallel_gla(q, k, v, log_g, scale: float = 1.0, *, trusted_gates: bool = False):
    """Masked parallel GLA: ``o_t = Σ_{s≤t} (Σ_c q_tc k_sc D_tsc) v_s`` (same contract as
    :func:`naive_recurrent_gla`).

    The decay ``D_tsc = exp(C_tc − C_sc)`` comes from cumulative sums of log-gates; non-causal
    pairs are set to ``−∞`` before the exponential, so nothing overflows and nothing is divided.
    Memory is O(B·H·T²·K) for vector gating and O(B·H·T²) for scalar gating or none.
    """
    _check_qkvg(q, k, v, log_g, trusted_gates)
    t_len = q.shape[1]
    causal = torch.ones(t_len, t_len, dtype=torch.bool, device=q.device).tril()
    # decay[b, h, t, s, c] = exp(C_tc − C_sc) on causal pairs, 0 elsewhere
    decay = _masked_decays(log_g.permute(0, 2, 1, 3), 2, causal, trusted_gates)
    if log_g.shape[-1] == 1:
        scores = torch.einsum("bthc,bshc->bhts", q * scale, k) * decay[..., 0]
    else:
        scores = torch.einsum("bthc,bshc,bhtsc->bhts", q * scale, k, decay)
    return torch.einsum("bhts,bshv->bthv", scores, v)


def _suffix_sums(log_g, dim: int):
    """``Σ_{u > s} log g_u`` along ``dim`` (0 at the last position): a reversed cumulative sum of
    non-positive terms, so nothing is subtracted and the exponential never exceeds 1."""
    tail = log_g.narrow(dim, 1, log_g.shape[dim] - 1)
    rev = torch.flip(torch.cumsum(torch.flip(tail, dims=(dim,)), dim=dim), dims=(dim,))
    return torch.cat([rev, torch.zeros_like(log_g.narrow(dim, 0, 1))], dim=dim)


def chunked_gla(q, k, v, log_g, scale: float = 1.0, chunk: int = 4, *, trusted_gates: bool = False):
    """Chunkwise GLA (same contract as :func:`naive_recurrent_gla`): masked parallel form inside
    chunks of ``chunk`` tokens, a recurrent state ``S ∈ R^{K×V}`` carried between chunks.

    For t in a chunk whose previous chunk ended with state S (which already holds the decays up
    to the chunk start), ``o_t = Σ_{s in chunk, s≤t} (Σ_c q_tc k_sc e^{c_tc − c_sc}) v_s
    + Sᵀ (q_t ⊙ e^{c_t})`` with c the within-chunk cumulative log-gate (inclusive), and
    ``S ← diag(e^{c_last}) S + Σ_s (k_s ⊙ e^{c_last − c_s}) v_sᵀ``. Every exponent is a sum of
    non-positive log-gates (masked differences inside a chunk, suffix sums for the state):
    nothing is divided and nothing overflows. Memory is O(B·H·T·chunk·K) instead of the
    parallel form's O(B·H·T²·K); the loop runs over T/chunk chunks instead of T tokens. On
    one CPU thread (d = 10, T = 83, batch 256, two vector layers, forward + backward) chunks of
    4 were the fastest: 1.2–1.6× faster than the recurrent form, chunks of 16 1.8–3.7× slower
    than it (the masked within-chunk tensor dominates), the parallel form about 10× slower
    (``benchmarks/bench_gla.py``).
    """
    _check_qkvg(q, k, v, log_g, trusted_gates)
    if chunk < 1:
        raise ValueError(f"chunk must be ≥ 1, got {chunk}")
    b, t_len, h, kd = q.shape
    pad = (-t_len) % chunk
    if pad:  # zero queries/keys/values and unit gates (log g = 0) after the end change nothing
        q, k, v, log_g = (F.pad(x, (0, 0, 0, 0, 0, pad)) for x in (q, k, v, log_g))
    nc = (t_len + pad) // chunk

    def split(x):
        return x.reshape(b, nc, chunk, h, x.shape[-1])

    q, k, v, log_g = split(q) * scale, split(k), split(v), split(log_g)
    cum = torch.cumsum(log_g, dim=2)  # [B, N, C, H, G], inclusive within the chunk (−∞ after a zero gate)
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    decay = _masked_decays(log_g, 2, causal, trusted_gates)  # [B, N, t, s, H, G] = exp(c_t − c_s) on causal pairs
    if log_g.shape[-1] == 1:
        scores = torch.einsum("bnthc,bnshc->bnhts", q, k) * decay[..., 0].permute(0, 1, 4, 2, 3)
    else:
        scores = torch.einsum("bnthc,bnshc,bntshc->bnhts", q, k, decay)
    o = torch.einsum("bnhts,bnshv->bnthv", scores, v)
    to_end = torch.exp(_suffix_sums(log_g, dim=2))  # decay from each position to the chunk end
    k_end = k * to_end  # [B, N, C, H, K]
    q_in = q * torch.exp(cum)
    chunk_decay = torch.exp(cum[:, :, -1])  # [B, N, H, G]
    state = q.new_zeros(b, h, kd, v.shape[-1])
    inter = []
    for n in range(nc):
        inter.append(torch.einsum("bthk,bhkv->bthv", q_in[:, n], state))
        state = chunk_decay[:, n].unsqueeze(-1) * state + torch.einsum("bshk,bshv->bhkv", k_end[:, n], v[:, n])
    o = o + torch.stack(inter, dim=1)
    return o.reshape(b, nc * chunk, h, v.shape[-1])[:, :t_len]


def last_query_gla(q_last, k, v, log_g, scale: float = 1.0, *, trusted_gates: bool = False):
    """The output at the final position only: ``o_T = Σ_{s≤T} (Σ_c q_Tc k_sc D_Tsc) v_s``.

    A one-layer model's prediction (and the last layer of a deeper one) reads only the query
    position, so the T×T score matrix of :func:`parallel_gla` is not needed: this costs
    O(B·H·T·(K + V)) time and memory for every gating kind, vector gating included. The decays
    ``D_Tsc = exp(Σ_{s<u≤T} log g_uc)`` are exponentials of suffix sums of log-gates (sums of
    non-positive terms, formed by a reversed cumulative sum; nothing is subtracted or divided).
    A scalar gate's decay is the same for every key channel, so it multiplies the T scores
    rather than the T×K keys (K times fewer products, and the backward pass does not form the
    decayed keys); a vector gate's decays multiply the keys.

    Args:
        q_last: query of the final position, shape [B, H, K].
        k: keys, shape [B, T, H, K].
        v: values, shape [B, T, H, V].
        log_g: log-decays, shape [B, T, H, K] or [B, T, H, 1]; None = no gating (all 0).
        scale: multiplies the query.
        trusted_gates: as in :func:`naive_recurrent_gla`.

    Returns:
        o_T, shape [B, H, V].
    """
    _check_qkvg(k, k, v, k.new_zeros(k.shape[:3] + (1,)) if log_g is None else log_g, trusted_gates)
    if q_last.ndim != 3 or q_last.shape != (k.shape[0], k.shape[2], k.shape[3]):
        raise ValueError(f"q_last must be [B, H, K] = {(k.shape[0], k.shape[2], k.shape[3])}, got {tuple(q_last.shape)}")
    if log_g is None:  # linear attention: no decay
        return torch.einsum("bsh,bshv->bhv", torch.einsum("bhc,bshc->bsh", q_last * scale, k), v)
    decay = torch.exp(_suffix_sums(log_g, dim=1))  # [B, T, H, G]
    if log_g.shape[-1] == 1:  # scalar gate (or none): one decay per token, applied to the T scores
        scores = torch.einsum("bhc,bshc->bsh", q_last * scale, k) * decay[..., 0]
    else:  # vector gate: one decay per key channel, applied to the keys
        scores = torch.einsum("bhc,bshc->bsh", q_last * scale, k * decay)
    return torch.einsum("bsh,bshv->bhv", scores, v)


def relative_rms(a, b) -> float:
    """``‖a − b‖₂ / max(‖b‖₂, tiny)``: the tolerance measure of the reference-vs-fast tests."""
    a, b = a.detach(), b.detach()
    den = max(float(torch.linalg.vector_norm(b)), torch.finfo(b.dtype).tiny)
    return float(torch.linalg.vector_norm(a - b)) / den


def default_key_width(d: int, num_segments: int) -> int:
    """Key width that the vector-gating construction needs to realise every WPGD weight
    vector of a K-segment prompt with a full-rank preconditioner (docs/gating.md §4).

    A non-monotone ω with rank-d P needs at least 2d key channels whatever the gates (two
    groups of d channels, ω = u − v with u, v ≥ 0 non-decreasing); one segment (ω ∝ 1) needs d.
    This is the width for delimiters carrying one code per boundary; with a single shared
    delimiter flag the construction needs K·d (see :func:`wpgd.numerics.nn.construct.vector_key_width`).

    Args:
        d: feature dimension.
        num_segments: K ≥ 1.

    Returns:
        d if K = 1, else 2d.
    """
    return vector_key_width(d, num_segments)


class GLALayer(nn.Module):
    """One multi-head GLA layer with a residual connection: ``z ← z + a·Σ_h o_h``.

    ``a`` is fixed by ``aggregation``: 1 for "sum" (the GLA recursion as written, and what
    :mod:`wpgd.numerics.nn.construct` builds), ``1/T`` for "mean" (T = the sequence length of the
    input). "mean" is a parametrisation, not a different model class: the same function is
    reached with ``W_v`` multiplied by T. It is what the trainer uses, because with "sum" the
    optimal weights shrink like 1/n and a random initialisation's output grows like n, while
    Adam moves every coordinate by about the same step whatever its scale (docs/training.md,
    "Root cause of the plateau").

    Parameters (all free ``nn.Parameter`` s, random init):
        W_q, W_k: shape (H, Kh, D) with ``Kh = key_dim // num_heads``.
        W_v: shape (H, D, D) (each head writes the whole residual stream).
        W_g, b_g: gate map, shape (H, G, D) and (H, G) with G = Kh (vector) or 1 (scalar);
            absent for ``gating="none"``. ``log g = logsigmoid(W_g z + b_g)``.

    The layer owns its gate: :meth:`gate_parameters` lists the gate's parameters (the trainer
    gives them their own learning-rate group), :meth:`reset_gate` sets its initial bias, and
    :meth:`set_gate` writes a given gate map (``wpgd.numerics.nn.construct``); nobody else needs the
    parameters' names.

    Args:
        token_dim: D, residual-stream width (label last).
        key_dim: total key width over heads (divisible by ``num_heads``).
        gating: "scalar", "vector" or "none".
        num_heads: H.
        mode: "parallel" (masked parallel form), "chunked" (:func:`chunked_gla`) or
            "recurrent" (naive reference form). The final-position output that ``predict``
            needs always goes through :func:`last_query_gla` (vector gating: :meth:`vector_last`,
            the same function read from the end of the prompt).
        dtype: parameter dtype (float32 or float64).
        device: "cpu", "cuda", or a torch.device.
        aggregation: "sum" (default) or "mean" (the output is divided by the sequence length).
        gate_bias: initial gate bias ``b_g`` (default :data:`DEFAULT_GATE_BIAS`); ignored
            without gating.
    """

    def __init__(
        self,
        token_dim: int,
        key_dim: int,
        gating: str = "scalar",
        num_heads: int = 1,
        mode: str = "parallel",
        dtype=torch.float32,
        device="cpu",
        aggregation: str = "sum",
        gate_bias: float = DEFAULT_GATE_BIAS,
    ):
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        self.aggregation = aggregation
        if gating not in GATINGS:
            raise ValueError(f"gating must be one of {GATINGS}, got {gating!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if token_dim < 1 or key_dim < 1 or num_heads < 1 or key_dim % num_heads:
            raise ValueError(
                f"need token_dim, key_dim, num_heads ≥ 1 and num_heads | key_dim, got "
                f"{token_dim}, {key_dim}, {num_heads}"
            )
        self.token_dim, self.key_dim, self.num_heads = token_dim, key_dim, num_heads
        self.head_key_dim = key_dim // num_heads
        self.gating, self.mode = gating, mode
        kw = {"dtype": dtype, "device": device}
        h, kh, dd = num_heads, self.head_key_dim, token_dim
        self.W_q = nn.Parameter(torch.randn(h, kh, dd, **kw) / math.sqrt(dd))
        self.W_k = nn.Parameter(torch.randn(h, kh, dd, **kw) / math.sqrt(dd))
        self.W_v = nn.Parameter(torch.randn(h, dd, dd, **kw) / dd)
        if gating != "none":
            g = kh if gating == "vector" else 1
            self.W_g = nn.Parameter(torch.randn(h, g, dd, **kw) / math.sqrt(dd))
            self.b_g = nn.Parameter(torch.full((h, g), float(gate_bias), **kw))
        else:
            self.register_parameter("W_g", None)
            self.register_parameter("b_g", None)

    def gate_parameters(self) -> list:
        """The gate's parameters ``[W_g, b_g]`` (empty without gating)."""
        return [] if self.gating == "none" else [self.W_g, self.b_g]

    def reset_gate(self, bias: float) -> None:
        """Set every gate bias to ``bias`` (the initial decay ``σ(bias)``); ``W_g`` is kept.
        No effect without gating."""
        if self.gating != "none":
            with torch.no_grad():
                self.b_g.fill_(float(bias))

    def set_gate(self, weight, bias) -> None:
        """Overwrite the gate map: ``weight`` of shape (H, G, D), ``bias`` of shape (H, G)
        (arrays or tensors; cast to the parameters' dtype and device).

        Raises:
            ValueError: the layer has no gate, or a shape differs.
        """
        if self.gating == "none":
            raise ValueError("a layer without gating has no gate to set")
        with torch.no_grad():
            for p, val in ((self.W_g, weight), (self.b_g, bias)):
                t = torch.as_tensor(val, dtype=p.dtype, device=p.device)
                if t.shape != p.shape:
                    raise ValueError(f"gate shape must be {tuple(p.shape)}, got {tuple(t.shape)}")
                p.copy_(t)

    def log_gates(self, z):
        """Log-decays, shape [B, T, H, G] (G = Kh, 1, or 1 with zeros for no gating)."""
        if self.gating == "none":
            return z.new_zeros(z.shape[0], z.shape[1], self.num_heads, 1)
        b, t, d = z.shape
        return self._flat_log_gates(z).view(b, t, self.num_heads, self.W_g.shape[1])

    def _flat_log_gates(self, z):
        """Log-decays as one [..., H·G] matrix product of the tokens [..., D] (a gated layer)."""
        d = z.shape[-1]
        return F.logsigmoid(z @ self.W_g.reshape(-1, d).T + self.b_g.reshape(-1))

    def attention(self, z):
        """Per-head outputs o, shape [B, T, H, D], for tokens z of shape [B, T, D]."""
        q = torch.einsum("hkd,btd->bthk", self.W_q, z)
        k = torch.einsum("hkd,btd->bthk", self.W_k, z)
        v = torch.einsum("hed,btd->bthe", self.W_v, z)
        kernel = {"parallel": parallel_gla, "recurrent": naive_recurrent_gla, "chunked": chunked_gla}[self.mode]
        return kernel(q, k, v, self.log_gates(z), trusted_gates=True)

    def _last_query(self, z):
        """The final position's query per head, ``W_q z_T``, shape [B, H, K]: one matrix product."""
        b, _, d = z.shape
        return (z[:, -1] @ self.W_q.reshape(-1, d).T).view(b, self.num_heads, self.head_key_dim)

    def _folded_query(self, z):
        """The folded query ``W_kᵀ W_q z_T`` per head, shape [B, H, D] (:meth:`query_and_keys_last`).
        Batched over heads, [H, B, K] @ [H, K, D]: a broadcast [B, H, 1, K] @ [H, K, D] would form
        a [B, H, K, D] gradient for ``W_k`` and then sum it over B."""
        return (self._last_query(z).transpose(0, 1) @ self.W_k).transpose(0, 1)

    def query_and_keys_last(self, z):
        """The query of the final position and the keys it is scored against, for
        :func:`last_query_gla`: ``(q [B, H, C], k [B, T, H, C])`` with ``q·k_s`` the score of token s.

        With a scalar gate or none, every key channel has the same decay, so the score
        ``(W_q z_T)·(W_k z_s)`` is ``(W_kᵀ W_q z_T)·z_s``: the key projection is folded into the
        query (C = D, B·H·K·D products) instead of applied to every token (B·T·H·K·D products,
        the step's largest cost at the paper's scale). The function and its gradients are the same;
        only the float rounding differs. A vector gate decays each key channel separately, so its
        keys are formed (C = K).
        """
        if self.gating == "vector":
            return self._last_query(z), torch.einsum("hkd,btd->bthk", self.W_k, z)
        folded = self._folded_query(z)
        return folded, z.unsqueeze(2).expand(z.shape[0], z.shape[1], self.num_heads, z.shape[2])

    def attention_last(self, z):
        """Per-head outputs at the final position only, shape [B, H, D] (:func:`last_query_gla`;
        vector gating: :meth:`vector_last`)."""
        if self.gating == "vector":
            return self.vector_last(z, self.W_v)
        q, k = self.query_and_keys_last(z)
        v = torch.einsum("hed,btd->bthe", self.W_v, z)
        return last_query_gla(q, k, v, None if self.gating == "none" else self.log_gates(z), trusted_gates=True)

    def vector_last(self, z, w_v):
        """Per-head outputs at the final position of a vector-gated layer, shape [B, H, E], for value
        weights ``w_v`` of shape [H, E, D]: :func:`last_query_gla` read from the end of the prompt.

        Token s < T is decayed by ``exp(Σ_{u>s} log g_u)``. Taken newest first, the tokens
        T−1, …, 1 pair with the inclusive cumulative sums of the log-gates of T, T−1, …, 2, so:

        * the reversal is applied once to the B·T·D tokens, not (twice in the forward pass and
          twice more in the backward) to the B·T·H·K log-gates of a reversed cumulative sum;
        * the final token (decay 1) is scored on its own instead of padding the sums with a zero,
          and the first token's gate, which decays nothing, is not computed;
        * the values are linear in the tokens, so ``Σ_s score_s W_v z_s = W_v Σ_s score_s z_s``
          (B·H·D·E products after the sum over s instead of B·T·H·E·D before it).

        The same function and gradients as ``last_query_gla`` on every key; the sums are formed in
        the same order, and nothing is subtracted or divided.
        """
        b, t, d = z.shape
        h, k = self.num_heads, self.head_key_dim
        newest_first = z.flip(1)  # tokens T, T−1, …, 1
        later, earlier = newest_first[:, :-1], newest_first[:, 1:]  # gates of T…2 decay tokens T−1…1
        w_k = self.W_k.reshape(h * k, d)
        q = self._last_query(z)
        # [B, T−1, H·K] in one matrix product each, contiguous, so no layout copy of these B·T·H·K
        # tensors is made in either pass
        decayed = (earlier @ w_k.T) * torch.exp(torch.cumsum(self._flat_log_gates(later), dim=1))
        scores = decayed.view(b, t - 1, h, k).transpose(1, 2) @ q.unsqueeze(-1)  # [B, H, T−1, 1]
        last = ((z[:, -1] @ w_k.T).view(b, h, k) * q).sum(-1)  # token T, decay 1: [B, H]
        mixed = scores.squeeze(-1) @ earlier + last.unsqueeze(-1) * z[:, -1].unsqueeze(1)  # [B, H, D]
        return (mixed.transpose(0, 1) @ w_v.transpose(-1, -2)).transpose(0, 1)  # [H, B, D] @ [H, D, E], batched over heads

    def label_last(self, z):
        """The label channel (the last coordinate) of :meth:`forward_last`, shape [B].

        The prediction reads only this channel, so only the label row of each head's ``W_v`` is
        applied (V = 1 instead of D in :func:`last_query_gla`): the same value and the same
        gradients as ``forward_last(z)[:, -1]``, with D times fewer value products (without a
        vector gate: the folded query of :meth:`query_and_keys_last`, in
        :meth:`_folded_label_last`; vector gating: :meth:`vector_last`).
        """
        if self.gating == "vector":
            out = self.vector_last(z, self.W_v[:, -1:, :]).sum(dim=1)[:, 0]
        else:
            out = self._folded_label_last(z)
        return z[:, -1, -1] + (out if self.aggregation == "sum" else out * self.output_scale(z.shape[1]))

    def _folded_label_last(self, z):
        """:meth:`label_last` of a layer without a vector gate, summed over heads, shape [B]:
        ``Σ_h Σ_s D_Ts (q'_h·z_s)(w_h·z_s)`` with ``q'_h = W_kᵀ W_q z_T`` the folded query of
        :meth:`query_and_keys_last`, ``w_h`` the label row of ``W_v`` and ``D_Ts`` the scalar decay of
        :func:`last_query_gla` (1 without gating).

        The same arithmetic as ``last_query_gla`` on the folded query, in plain matrix products
        (no einsum, no [B, T, H, D] view of the tokens) and without its check that the log-gates
        are ≤ 0: they come from a log-sigmoid here, and on a GPU that check waits for the device in
        every step (``benchmarks/bench_train.py``)."""
        folded = self._folded_query(z)  # [B, H, D]
        tokens = z.transpose(1, 2)  # [B, D, T]; [B, H, D] @ [B, D, T] is 2–3× faster on the CPU
        scores = folded @ tokens  # than the same product as [B, T, D] @ [B, D, H]
        if self.gating != "none":
            scores = scores * torch.exp(_suffix_sums(self._flat_log_gates(z).transpose(1, 2), dim=2))
        return (scores * (self.W_v[:, -1, :] @ tokens)).sum(dim=(1, 2))  # values [H, D] @ [B, D, T]

    def output_scale(self, seq_len: int) -> float:
        """The factor ``a`` of the residual update: 1 ("sum") or ``1/seq_len`` ("mean")."""
        return 1.0 if self.aggregation == "sum" else 1.0 / seq_len

    def forward(self, z):
        """Residual update ``z + a·Σ_h o_h``; z of shape [B, T, D] → [B, T, D]."""
        out = self.attention(z).sum(dim=2)
        return z + (out if self.aggregation == "sum" else out * self.output_scale(z.shape[1]))

    def forward_last(self, z):
        """The residual stream at the final position after this layer, shape [B, D]."""
        out = self.attention_last(z).sum(dim=1)
        return z[:, -1] + (out if self.aggregation == "sum" else out * self.output_scale(z.shape[1]))


class GLAModel(nn.Module):
    """A stack of :class:`GLALayer` s on a residual stream of width ``token_dim``.

    Args:
        token_dim: D (features, optional context coordinates, label last).
        key_dim: key width per layer (total over heads).
        num_layers: L.
        gating: "scalar", "vector" or "none" (linear attention).
        num_heads: heads per layer.
        mode: "parallel", "chunked" or "recurrent".
        dtype: torch.float32 or torch.float64.
        device: where the parameters live.
        aggregation: "sum" or "mean" (every layer; see :class:`GLALayer`).
        gate_bias: initial gate bias of every layer (see :class:`GLALayer`).
    """

    def __init__(
        self,
        token_dim: int,
        key_dim: int,
        num_layers: int = 1,
        gating: str = "scalar",
        num_heads: int = 1,
        mode: str = "parallel",
        dtype=torch.float32,
        device="cpu",
        aggregation: str = "sum",
        gate_bias: float = DEFAULT_GATE_BIAS,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be ≥ 1, got {num_layers}")
        self.token_dim, self.key_dim, self.num_layers = token_dim, key_dim, num_layers
        self.gating, self.num_heads = gating, num_heads
        self.layers = nn.ModuleList(
            GLALayer(token_dim, key_dim, gating, num_heads, mode, dtype, device, aggregation, gate_bias)
            for _ in range(num_layers)
        )

    def gate_parameters(self) -> list:
        """The gate parameters of every layer (:meth:`GLALayer.gate_parameters`)."""
        return [p for layer in self.layers for p in layer.gate_parameters()]

    def reset_gate(self, bias: float) -> None:
        """Set the gate bias of every layer (:meth:`GLALayer.reset_gate`)."""
        for layer in self.layers:
            layer.reset_gate(bias)

    @property
    def mode(self) -> str:
        """The kernel used by every layer ("parallel", "chunked" or "recurrent")."""
        return self.layers[0].mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        for layer in self.layers:
            layer.mode = value

    def forward(self, tokens):
        """The residual stream after all layers: tokens [B, T, D] → [B, T, D]."""
        if tokens.ndim != 3 or tokens.shape[-1] != self.token_dim:
            raise ValueError(f"tokens must be [B, T, {self.token_dim}], got {tuple(tokens.shape)}")
        z = tokens
        for layer in self.layers:
            z = layer(z)
        return z

    def predict(self, tokens):
        """Prediction for the final (query) position: ``−z_{T, D}`` after the last layer, shape [B].

        Layers 1..L−1 run on every position (with the model's kernel); the last layer is
        evaluated at the query position and in the label channel only
        (:meth:`GLALayer.label_last`), which equals ``−forward(tokens)[:, -1, -1]`` and avoids
        the T×T scores and the D-wide values of the last layer.
        """
        if tokens.ndim != 3 or tokens.shape[-1] != self.token_dim:
            raise ValueError(f"tokens must be [B, T, {self.token_dim}], got {tuple(tokens.shape)}")
        z = tokens
        for layer in self.layers[:-1]:
            z = layer(z)
        return -self.layers[-1].label_last(z)
