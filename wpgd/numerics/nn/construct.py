"""From a WPGD algorithm (P, ω) to exact GLA weights (docs/theory.md §2, docs/gating.md).

Token layout (label last, compatible with ``wpgd.numerics.nn.prompts`` for ``codes="flag"``)::

    demonstration  [ x_i (d) | 0 (e) | y_i ]      query  [ x (d) | 0 (e) | 0 ]
    delimiter k    [ 0 (d)   | c_k (e) | 0 ]      (after segment k, k = 1..K−1)

with ``c_k = 1`` (``codes="flag"``, e = 1: every delimiter looks the same) or ``c_k = e_k``
(``codes="boundary"``, e = K−1: one code per boundary).

A *channel group* is d key channels that read x (``k = x``), query ``Qᵀx`` and share one gate.
The label value is written with a minus sign (``v = −y e_label``), so a one-layer model with
groups ``(Q_m, gate_m)`` outputs, in the label channel of the query,

    −ŷ,   ŷ = Σ_m Σ_i y_i ω_i^{(m)} xᵀ Q_m x_i,    ω_i^{(m)} = Π_{j>i} g_j^{(m)}   (Theorem 1)

and :meth:`wpgd.numerics.nn.gla.GLAModel.predict` returns ŷ. One group with ``Q = P`` is WPGD with
``ω = ω^{(1)}``; signed groups give non-monotone ω (vector gating).

Exactness: a gate of 1 is ``sigmoid(BIG)`` with :data:`BIG` = 40, i.e. ``log g = −4.2e−18``; a
prompt of n tokens is therefore off by a relative ``n·4e−18``, far below float64 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.safety import gate_products
from wpgd.numerics.core.vocabulary import DELIMITER_CODES, vector_key_width as _key_width_rule

__all__ = [
    "BIG",
    "ChannelGroup",
    "weights_from_log_gates",
    "log_gates_for_weights",
    "gate_logits",
    "monotone_split",
    "vector_key_width",
    "segment_tokens",
    "prompt_tokens",
    "scalar_segment_group",
    "vector_segment_groups",
    "load_groups",
    "build_wpgd_model",
]

BIG = 40.0
"""Gate logit used for "gate = 1": ``logsigmoid(40) ≈ −4.25e−18``."""

CODES = DELIMITER_CODES


@dataclass(frozen=True)
class ChannelGroup:
    """d key channels sharing one gate.

    Attributes:
        Q: this group's preconditioner, shape (d, d) (query = Qᵀx).
        gate_weight: gate map row, shape (D,) (D = token width), or None for no gating.
        gate_bias: gate bias (``log g = logsigmoid(gate_weight·z + gate_bias)``).
    """

    Q: np.ndarray
    gate_weight: np.ndarray | None = None
    gate_bias: float = BIG


def weights_from_log_gates(log_gates) -> np.ndarray:
    """WPGD weights induced by scalar gates: ``ω_i = Π_{j=i+1}^{m} g_j``.

    Args:
        log_gates: ``log g_1..log g_m ≤ 0`` (may be −inf), shape (..., m); the last is the query's.

    Returns:
        ω for the m−1 non-query tokens, shape (..., m−1): non-negative, non-decreasing in i.
    """
    return gate_products(np.asarray(log_gates, dtype=np.float64))[..., :-1]


def log_gates_for_weights(omega) -> tuple[np.ndarray, float]:
    """Scalar gates realising a non-negative, non-decreasing ω up to scale.

    Args:
        omega: shape (n,), ``0 ≤ ω_1 ≤ … ≤ ω_n``, ``ω_n > 0``.

    Returns:
        (log_gates, scale): log-gates of shape (n+1,) (token 1 … n, query), and ``scale = ω_n``
        such that ``scale · weights_from_log_gates(log_gates) == ω``. The query's gate is 1,
        ``g_j = ω_{j−1}/ω_j`` (0 ⇒ log g = −inf) and ``g_1 = 1`` (it multiplies nothing).

    Raises:
        InvalidProblemError: ω negative, decreasing somewhere, or all zero.
    """
    w = np.asarray(omega, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
        raise InvalidProblemError("omega must be a finite, non-empty vector")
    if np.any(w < 0) or np.any(np.diff(w) < 0) or w[-1] <= 0:
        raise InvalidProblemError("scalar gates realise only ω ≥ 0, non-decreasing, not all zero")
    pos = w > 0
    log_w = np.zeros_like(w)
    log_w[pos] = np.log(w[pos])
    mid = np.zeros(w.size - 1)  # gates of tokens 2..n
    both = pos[:-1]  # ω_{j−1} > 0 ⇒ ω_j > 0
    mid[both] = log_w[:-1][both] - log_w[1:][both]
    mid[~pos[:-1] & pos[1:]] = -np.inf  # the first non-zero weight: gate 0 just after it
    lg = np.zeros(w.size + 1)
    lg[1:-1] = mid
    return lg, float(w[-1])


def gate_logits(log_gates) -> np.ndarray:
    """Logits ``a`` with ``logsigmoid(a) = log g``, clipped to ±BIG (gate 1 → BIG, gate 0 → −BIG).

    Args:
        log_gates: shape (...), ≤ 0, may be −inf.

    Returns:
        shape (...): ``log g − log(1 − g)`` computed as ``log g − log(−expm1(log g))``.
    """
    lg = np.asarray(log_gates, dtype=np.float64)
    out = np.full(lg.shape, BIG)
    out[np.isneginf(lg)] = -BIG
    mid = np.isfinite(lg) & (lg < 0)
    out[mid] = np.clip(lg[mid] - np.log(-np.expm1(lg[mid])), -BIG, BIG)
    return out


def monotone_split(w) -> tuple[np.ndarray, np.ndarray]:
    """``w = u − v`` with u, v ≥ 0 non-decreasing (Jordan decomposition of the increments).

    Args:
        w: shape (K,).

    Returns:
        (u, v), each shape (K,), non-negative and non-decreasing.
    """
    w = np.asarray(w, dtype=np.float64)
    inc = np.diff(w, prepend=0.0)
    return np.cumsum(np.maximum(inc, 0.0)), np.cumsum(np.maximum(-inc, 0.0))


def vector_key_width(d: int, num_segments: int, codes: str = "boundary") -> int:
    """Key width of the vector-gating construction for K segments (the rule lives in
    :func:`wpgd.numerics.core.vocabulary.vector_key_width`).

    ``codes="boundary"``: 2d (two groups, ω = u − v); ``codes="flag"``: K·d (K groups with
    geometric patterns ρ_m^{K−k}, combined through a Vandermonde solve). d when K = 1.
    The lower bound for any non-monotone ω with full-rank P is 2d (docs/gating.md §4).
    """
    if codes not in CODES:
        raise InvalidProblemError(f"codes must be one of {CODES}, got {codes!r}")
    return _key_width_rule(d, num_segments, codes)


def _context_dim(num_segments: int, codes: str) -> int:
    if codes not in CODES:
        raise InvalidProblemError(f"codes must be one of {CODES}, got {codes!r}")
    return 1 if codes == "flag" else max(num_segments - 1, 1)


def prompt_tokens(X, y, x, context_dim: int = 0) -> np.ndarray:
    """Tokens ``[x_i | 0 | y_i]`` and query ``[x | 0 | 0]`` without delimiters.

    Args:
        X: shape (B, n, d); y: shape (B, n); x: shape (B, d).
        context_dim: e, zero context coordinates per token.

    Returns:
        shape (B, n+1, d+e+1).
    """
    X, y, x = (np.asarray(a, dtype=np.float64) for a in (X, y, x))
    b, n, d = X.shape
    z = np.zeros((b, n + 1, d + context_dim + 1))
    z[:, :n, :d] = X
    z[:, :n, -1] = y
    z[:, n, :d] = x
    return z


def segment_tokens(X, y, x, segment_sizes, codes: str = "boundary") -> tuple[np.ndarray, np.ndarray]:
    """Tokens of a segment prompt with a delimiter after every segment but the last.

    Args:
        X: shape (B, n, d); y: shape (B, n); x: shape (B, d).
        segment_sizes: (n_1, …, n_K), farthest from the query first.
        codes: "flag" (one coordinate, value 1) or "boundary" (one-hot of the boundary).

    Returns:
        (tokens, positions): tokens of shape (B, n+K, d+e+1) and the token index of every
        demonstration, shape (n,).
    """
    X, y, x = (np.asarray(a, dtype=np.float64) for a in (X, y, x))
    sizes = [int(s) for s in segment_sizes]
    b, n, d = X.shape
    if sum(sizes) != n:
        raise InvalidProblemError(f"segment sizes {sizes} do not add up to n = {n}")
    k_seg = len(sizes)
    e = _context_dim(k_seg, codes)
    z = np.zeros((b, n + k_seg, d + e + 1))
    pos = np.concatenate([np.arange(s) + sum(sizes[:k]) + k for k, s in enumerate(sizes)])
    z[:, pos, :d] = X
    z[:, pos, -1] = y
    for k in range(k_seg - 1):
        t = sum(sizes[: k + 1]) + k
        z[:, t, d + (0 if codes == "flag" else k)] = 1.0
    z[:, -1, :d] = x
    return z, pos


def _logit(g: float) -> float:
    """log(g/(1−g)) for g ∈ [0, 1], clipped to ±BIG (gate 0 → −BIG, gate 1 → +BIG)."""
    if g <= 0.0:
        return -BIG
    if g >= 1.0:
        return BIG
    return float(np.clip(math.log(g) - math.log1p(-g), -BIG, BIG))


def _segment_gate(d: int, ratios, codes: str) -> tuple[np.ndarray, float]:
    """Gate row + bias giving gate ``ratios[k]`` at delimiter k and 1 on every other token."""
    k_seg = len(ratios) + 1
    e = _context_dim(k_seg, codes)
    row = np.zeros(d + e + 1)
    if codes == "flag":
        if len(ratios) and not np.allclose(ratios, ratios[0], rtol=1e-12, atol=0.0):
            raise InvalidProblemError("one delimiter flag gives the same gate at every boundary")
        if len(ratios):
            row[d] = _logit(ratios[0]) - BIG
    else:
        for k, rho in enumerate(ratios):
            row[d + k] = _logit(rho) - BIG
    return row, BIG


def scalar_segment_group(P, w, codes: str = "boundary") -> ChannelGroup:
    """The one channel group that realises WPGD(P, ω) with ``ω_i = w_{k(i)}`` by scalar gating.

    Args:
        P: shape (d, d).
        w: segment weights, shape (K,), non-negative non-decreasing toward the query, w_K > 0
            (``−w`` of that form is also accepted: the sign goes into P).
        codes: delimiter codes of :func:`segment_tokens`; "flag" needs w geometric.

    Returns:
        The group (Q = w_K·P, gate = w_k/w_{k+1} at delimiter k).
    """
    P = np.asarray(P, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sign = 1.0
    if w[-1] < 0:
        w, sign = -w, -1.0
    if np.any(w < 0) or np.any(np.diff(w) < 0) or w[-1] <= 0:
        raise InvalidProblemError("scalar gating realises only ±(ω ≥ 0, non-decreasing toward the query)")
    ratios = [w[k] / w[k + 1] for k in range(w.size - 1)]
    row, bias = _segment_gate(P.shape[0], ratios, codes)
    return ChannelGroup(Q=sign * w[-1] * P, gate_weight=row, gate_bias=bias)


def vector_segment_groups(P, w, codes: str = "boundary") -> list[ChannelGroup]:
    """Channel groups realising WPGD(P, ω) for *any* segment weights w (vector gating).

    ``codes="boundary"``: two groups from ``w = u − v`` (:func:`monotone_split`).
    ``codes="flag"``: K groups with delimiter gates ρ_m = (K−m)/K… (ρ_1 = 1) and group scales
    α solving ``Σ_m α_m ρ_m^{K−k} = w_k`` (a Vandermonde system).

    Args:
        P: shape (d, d).
        w: segment weights, shape (K,).

    Returns:
        The groups; key width = d × len(groups) (:func:`vector_key_width`).
    """
    P = np.asarray(P, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d, k_seg = P.shape[0], w.size
    if k_seg == 1:
        return [scalar_segment_group(P, w, codes)]
    if codes == "boundary":
        groups = []
        for part, sgn in zip(monotone_split(w), (1.0, -1.0)):
            if part[-1] > 0:
                g = scalar_segment_group(P, part, codes)
                groups.append(ChannelGroup(Q=sgn * g.Q, gate_weight=g.gate_weight, gate_bias=g.gate_bias))
            else:
                groups.append(ChannelGroup(Q=np.zeros((d, d)), gate_weight=np.zeros(d + k_seg), gate_bias=BIG))
        return groups
    if codes != "flag":
        raise InvalidProblemError(f"codes must be one of {CODES}, got {codes!r}")
    rho = (k_seg - np.arange(k_seg)) / k_seg
    expo = k_seg - 1 - np.arange(k_seg)  # delimiters after segment k
    vander = rho[None, :] ** expo[:, None]  # (K segments, K groups)
    alpha = np.linalg.solve(vander, w)
    groups = []
    for a, r in zip(alpha, rho):
        row, bias = _segment_gate(d, [r] * (k_seg - 1), "flag")
        groups.append(ChannelGroup(Q=a * P, gate_weight=row, gate_bias=bias))
    return groups


def load_groups(layer, groups: list[ChannelGroup], d: int, head: int = 0) -> None:
    """Overwrite a :class:`wpgd.numerics.nn.gla.GLALayer` so that it computes the groups' predictor.

    Channel block m (channels m·d … m·d+d−1 of ``head``) gets ``k = x``, ``q = Q_mᵀx`` and the
    group's gate; the value writes ``−y`` into the label channel; every other weight is zero.

    Raises:
        InvalidProblemError: key width too small, or several different gates on a scalar layer.
    """
    import torch

    kh, tok = layer.head_key_dim, layer.token_dim
    if len(groups) * d > kh:
        raise InvalidProblemError(f"{len(groups)} groups of {d} channels need key width ≥ {len(groups) * d}, got {kh}")
    if layer.gating == "scalar" and len({(tuple(np.ravel(g.gate_weight)), g.gate_bias) for g in groups}) > 1:
        raise InvalidProblemError("a scalar-gated layer has one gate: its groups must share it")
    wq = np.zeros(layer.W_q.shape)
    wk = np.zeros(layer.W_k.shape)
    wv = np.zeros(layer.W_v.shape)
    wv[head, tok - 1, tok - 1] = -1.0
    wg = bg = None
    if layer.gating != "none":
        wg = np.zeros(layer.W_g.shape)
        bg = np.full(layer.b_g.shape, BIG)
    for m, g in enumerate(groups):
        sl = slice(m * d, (m + 1) * d)
        wk[head, sl, :d] = np.eye(d)
        wq[head, sl, :d] = np.asarray(g.Q, dtype=np.float64).T
        if layer.gating == "vector":
            wg[head, sl, :] = g.gate_weight
            bg[head, sl] = g.gate_bias
        elif layer.gating == "scalar":
            wg[head, 0, :] = g.gate_weight
            bg[head, 0] = g.gate_bias
    with torch.no_grad():
        for p, val in ((layer.W_q, wq), (layer.W_k, wk), (layer.W_v, wv)):
            p.copy_(torch.as_tensor(val, dtype=p.dtype, device=p.device))
    if wg is not None:
        layer.set_gate(wg, bg)


def build_wpgd_model(d: int, token_dim: int, layers: list[list[ChannelGroup]], gating: str = "scalar",
                     key_dim: int | None = None, mode: str = "parallel", dtype=None, device="cpu"):
    """A :class:`wpgd.numerics.nn.gla.GLAModel` whose layer l computes the groups ``layers[l]``.

    Args:
        d: feature dimension.
        token_dim: D = d + e + 1.
        layers: one list of channel groups per layer.
        gating: "scalar", "vector" or "none".
        key_dim: key width (default d × the largest number of groups).
        dtype: torch dtype (default float64).

    Returns:
        The model (one head).
    """
    import torch

    from wpgd.numerics.nn.gla import GLAModel

    width = key_dim or d * max(len(g) for g in layers)
    model = GLAModel(token_dim, width, num_layers=len(layers), gating=gating, mode=mode,
                     dtype=dtype or torch.float64, device=device)
    for layer, groups in zip(model.layers, layers):
        load_groups(layer, groups, d)
    return model
