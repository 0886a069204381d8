"""From a WPGD algorithm (P, ω) to the weights of a one-layer architecture (docs/atlas/implementation.md).

The construction of docs/theory.md §1–2, per architecture, on prompts of a
:class:`~wpgd.numerics.nn.prompts.PromptFormat` (features scaled by f, labels by s, label last):
keys read the features (``k = x``), queries ``Qᵀx``, the value writes ``−y`` into the label
channel, and every gate, decay, Δ or input-gate map reads only the token's context and delimiter
coordinates, so that all demonstrations of one segment share its values. The prediction is then
``ŷ = a·f²·Σ_i ω̃_i xᵀ Q x_i y_i`` (``a`` = 1 or 1/T), and ``Q = c·P/(a f²)`` with ``ω = c·ω̃``.

What each architecture realises this way (ω up to sign and scale; K segments, one delimiter code
per boundary):

* ``retnet``: ``ω_i ∝ γ_0^(T−1−t_i)`` (t_i = the token position; delimiters count), H heads:
  ``Σ_h c_h γ_h^(T−1−t_i)``. No other ω.
* ``mamba2``, ``mlstm`` with context "none": segment weights ≥ 0 and non-decreasing toward the
  query (a delimiter's decay is the ratio of its neighbours). Demonstrations must not decay:
  Mamba2 takes ``A = −e^(−40)`` (its decay ``exp(AΔ)`` is then 1 − 4e−18 per token: the optimum is
  a closure point, reached to float64 rounding), mLSTM a forget gate ``σ(40)``. With context
  "onehot" the input scaling (Mamba2's Δ, mLSTM's ``exp(ĩ)``) differs per segment: any
  segment weights of one sign.
* ``gla``, ``rwkv6``: any segment weights, with two groups of d key channels (``ω = u − v``,
  u and v non-decreasing: ``wpgd.numerics.nn.construct.monotone_split``), one group if ω is
  monotone up to sign.

mLSTM's normaliser ``max(|nᵀq|, 1)``: keys are scaled by ε = 2^(−30) and values by 1/ε, which
keeps ``S q`` and sends ``nᵀq`` to ε times its value, far below 1 on prompts of ordinary scale.
The exactness of every construction is checked by ``wpgd verify --only atlas.torch_construction``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.vocabulary import ARCHITECTURES, WPGD_ARCHITECTURES
from wpgd.numerics.nn.construct import monotone_split
from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler

from ._base import ArchModel
from .gla import GATE_LOGIT_NORMALIZER
from .registry import arch_model
from .retnet import retnet_log_decays

__all__ = ["BIG", "MLSTM_KEY_SCALE", "construct_model", "segment_weights"]

BIG = 40.0
"""A logit meaning "gate 1" (``logsigmoid(40) = −4.2e−18``), and ``A_log = −BIG`` for Mamba2."""
ZERO_LOG = -100.0
"""A log-decay meaning "decay 0": ``e^(−100) = 3.7e−44``, negligible beside float64 rounding."""
MLSTM_KEY_SCALE = 2.0**-30
"""ε of the mLSTM construction (an exact power of two: the scaling itself rounds nothing)."""
_SEGMENT_TOL = 1e-9


def segment_weights(problem: Problem, omega) -> np.ndarray:
    """The per-segment weights of a segment-constant ω, shape (K,) (K = 1 for a dense problem).

    Raises:
        InvalidProblemError: ω of the wrong shape or not constant within a segment (to a relative 1e−9).
    """
    w = np.asarray(omega, dtype=np.float64)
    if w.shape != (problem.n,) or not np.all(np.isfinite(w)):
        raise InvalidProblemError(f"ω must be a finite vector of shape ({problem.n},), got shape {w.shape}")
    seg = np.asarray(problem.segment_index) if problem.is_segmented else np.zeros(problem.n, dtype=np.intp)
    k_seg = int(seg.max()) + 1
    means = np.array([w[seg == k].mean() for k in range(k_seg)])
    scale = max(float(np.max(np.abs(w))), np.finfo(float).tiny)
    if np.max(np.abs(w - means[seg])) > _SEGMENT_TOL * scale:
        raise InvalidProblemError(
            "the construction realises segment-constant ω (every demonstration of a segment weighted alike; "
            "RetNet's fixed geometric profile is the one exception)")
    return means


def _one_sign(w: np.ndarray, what: str) -> tuple[np.ndarray, float]:
    """(|w| with the sign taken out, the sign); refuses mixed signs or all zeros."""
    scale = float(np.max(np.abs(w)))
    if scale == 0.0:
        raise InvalidProblemError("ω = 0 has no construction (every architecture here realises it with Q = 0)")
    sign = 1.0 if w[np.argmax(np.abs(w))] > 0 else -1.0
    w = sign * w
    if np.any(w < -_SEGMENT_TOL * scale):
        raise InvalidProblemError(f"{what} realises only segment weights of one sign, got {np.round(sign * w, 6).tolist()}")
    return np.maximum(w, 0.0), sign


def _monotone(w: np.ndarray, name: str) -> tuple[np.ndarray, float]:
    w, sign = _one_sign(w, name)
    if np.any(np.diff(w) < -_SEGMENT_TOL * float(np.max(w))):
        raise InvalidProblemError(
            f"{name} on this prompt realises only segment weights ≥ 0 and non-decreasing toward the query "
            f"(up to sign), got {np.round(sign * w, 6).tolist()}")
    return np.maximum.accumulate(w), sign


def _ratios(u: np.ndarray) -> list[float]:
    """Delimiter decays ρ_j = u_j/u_{j+1} (j = 1..K−1) of a non-negative non-decreasing u."""
    return [float(u[j] / u[j + 1]) if u[j + 1] > 0 else 1.0 for j in range(u.size - 1)]


class _Layout:
    """Where the context and delimiter coordinates of a prompt format are."""

    def __init__(self, problem: Problem, fmt: PromptFormat):
        s = PromptSampler(problem, fmt, dtype=torch.float64)
        self.d, self.k_seg = problem.d, s.num_segments
        self.token_dim, self.seq_len = s.token_dim, s.seq_len
        self.context = fmt.context == "onehot"
        self.fmt = fmt
        self.positions = s.demo_positions.numpy()
        self.code_start = self.d + s.context_dim

    def delimiter_rows(self, values: list[float], neutral: float, what: str) -> dict[int, float]:
        """{coordinate: logit offset} putting ``values[j]`` (a logit) at delimiter j and ``neutral``
        elsewhere, or the reason it cannot."""
        if self.k_seg == 1 or all(v == neutral for v in values):
            return {}
        delim = self.fmt.delimiter
        if delim == "boundary" or (delim == "flag" and len(set(values)) == 1):
            coords = [self.code_start + (j if delim == "boundary" else 0) for j in range(len(values))]
            return {c: (v - neutral) / self.fmt.delimiter_value for c, v in zip(coords, values)}
        reason = {"none": "the prompt has no delimiters", "label": "a label-slot delimiter is read like a label",
                  "flag": "one shared delimiter flag gives every boundary the same decay"}[delim]
        raise InvalidProblemError(f"{what} needs a different decay at each segment boundary, and {reason} "
                                  f"(use delimiter 'boundary')")

    def context_rows(self, values: list[float], neutral: float) -> dict[int, float]:
        """{coordinate: offset} giving demonstrations of segment k the logit ``values[k]``."""
        return {self.d + k: v - neutral for k, v in enumerate(values)}


def _inv_softplus(x: float) -> float:
    """``log(e^x − 1)`` (the logit whose softplus is x), clipped below at −BIG·2.5 for x → 0."""
    if x <= 0.0:
        return 2.5 * -BIG
    return x + math.log(-math.expm1(-x)) if x < 30 else x


def _logit(log_p: float) -> float:
    """The logit whose logsigmoid is ``log_p`` (≤ 0); ±BIG-like clipping at the ends."""
    if log_p >= 0.0:
        return BIG
    return max(log_p - math.log(-math.expm1(log_p)), log_p)


def _zero_params(model: ArchModel) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()


def _set(param, index, value) -> None:
    with torch.no_grad():
        param[index] = value


def _feature_channels(model: ArchModel, head: int, group: int, Q: np.ndarray, key_scale: float = 1.0) -> None:
    """Channels group·d … group·d+d−1 of ``head``: key = key_scale·x, query = Qᵀx."""
    d = Q.shape[0]
    if (group + 1) * d > model.head_key_dim:
        raise InvalidProblemError(
            f"{model.name}: {group + 1} groups of d = {d} key channels need a key width of {(group + 1) * d} per head, "
            f"got {model.head_key_dim}")
    sl = slice(group * d, (group + 1) * d)
    hq = 0 if model.shared_qk else head
    dev, dt = model.W_q.device, model.W_q.dtype
    _set(model.W_k, (hq, sl, slice(0, d)), key_scale * torch.eye(d, dtype=dt, device=dev))
    _set(model.W_q, (hq, sl, slice(0, d)), torch.as_tensor(Q.T, dtype=dt, device=dev))


def _value(model: ArchModel, head: int, value: float = -1.0) -> None:
    _set(model.W_v, (head, -1, -1), value)


def _retnet(model, lay: _Layout, omega, P, unit):
    heads = model.heads
    expo = (lay.seq_len - 1 - lay.positions).astype(np.float64)
    logs = retnet_log_decays(heads).numpy()
    profile = np.exp(np.outer(expo, logs))  # [n, H]
    coef, *_ = np.linalg.lstsq(profile, omega, rcond=None)
    resid = float(np.linalg.norm(profile @ coef - omega))
    if resid > 1e-9 * max(float(np.linalg.norm(omega)), np.finfo(float).tiny):
        raise InvalidProblemError(
            f"retnet with {heads} head(s) realises only ω_i = Σ_h c_h γ_h^(T−1−t_i) (fixed decays γ_h = 1 − 2^(−5−h)); "
            f"the given ω is off that set by a relative {resid / np.linalg.norm(omega):.2g}")
    for h in range(heads):
        _feature_channels(model, h, 0, coef[h] * P * unit)
        _value(model, h)


def _mamba2(model, lay: _Layout, w, P, unit):
    _value(model, 0)
    _set(model.A_log, 0, -BIG)
    a = math.exp(-BIG)  # |A|
    if lay.context:
        u, sign = _one_sign(w, "mamba2 with context 'onehot'")
        top = float(np.max(u))
        _set(model.dt_bias, 0, 0.0)
        for c, off in lay.context_rows([_inv_softplus(x / top) for x in u], 0.0).items():
            _set(model.W_dt, (0, c), off)
        _feature_channels(model, 0, 0, sign * top * P * unit)
        return
    u, sign = _monotone(w, "mamba2")
    bias = _inv_softplus(1.0)
    _set(model.dt_bias, 0, bias)
    # a delimiter without a jump keeps the demonstrations' Δ = 1; a jump ρ needs exp(AΔ) = ρ
    dts = [bias if r >= 1 else _inv_softplus(-max(math.log(r), ZERO_LOG) / a) if r > 0
           else _inv_softplus(-ZERO_LOG / a) for r in _ratios(u)]
    for c, off in lay.delimiter_rows(dts, bias, "mamba2").items():
        _set(model.W_dt, (0, c), off)
    _feature_channels(model, 0, 0, sign * float(u[-1]) * P * unit)


def _mlstm(model, lay: _Layout, w, P, unit):
    _value(model, 0, -1.0 / MLSTM_KEY_SCALE)
    _set(model.b_f, 0, BIG)
    if lay.context:
        u, sign = _one_sign(w, "mlstm with context 'onehot'")
        top = float(np.max(u))
        for c, off in lay.context_rows([math.log(x / top) if x > 0 else ZERO_LOG for x in u], 0.0).items():
            _set(model.w_i, (0, c), off)
        _feature_channels(model, 0, 0, sign * top * P * unit, MLSTM_KEY_SCALE)
        return
    u, sign = _monotone(w, "mlstm")
    logits = [_logit(max(math.log(r), ZERO_LOG)) if r > 0 else _logit(ZERO_LOG) for r in _ratios(u)]
    for c, off in lay.delimiter_rows(logits, BIG, "mlstm").items():
        _set(model.w_f, (0, c), off)
    _feature_channels(model, 0, 0, sign * float(u[-1]) * P * unit, MLSTM_KEY_SCALE)


def _vector(model, lay: _Layout, w, P, unit, gate_logit, neutral):
    """GLA and RWKV-6: one group per monotone part of w, each with its own delimiter gates."""
    try:
        parts = [(*_monotone(w, model.name),)]
    except InvalidProblemError:
        u, v = monotone_split(w)
        parts = [(u, 1.0), (v, -1.0)]
    _value(model, 0)
    weight, bias = (model.W_g, model.b_g) if model.name == "gla" else (model.W_w, model.time_decay)
    _set(bias, 0, neutral)
    for m, (u, sign) in enumerate(parts):
        if u[-1] <= 0:
            continue
        sl = slice(m * lay.d, (m + 1) * lay.d)
        logits = [neutral if r >= 1 else gate_logit(max(math.log(r), ZERO_LOG) if r > 0 else ZERO_LOG)
                  for r in _ratios(u)]
        for c, off in lay.delimiter_rows(logits, neutral, model.name).items():
            _set(weight, (0, sl, c), off)
        _feature_channels(model, 0, m, sign * float(u[-1]) * P * unit)


def construct_model(name: str, optimum, problem: Problem, fmt: PromptFormat = PromptFormat(), *, heads: int = 1,
                    key_dim: int | None = None, aggregation: str = "sum", dtype=torch.float64,
                    device="cpu") -> ArchModel:
    """A one-layer ``name`` model that computes the WPGD predictor ``xᵀ P Xᵀ(ω ⊙ y)`` of
    ``optimum`` exactly (float64: relative 1e−12) on prompts of ``fmt``.

    Args:
        name: one of :data:`~wpgd.numerics.core.vocabulary.WPGD_ARCHITECTURES`.
        optimum: anything with ``.P`` (d, d) and ``.omega`` (n,), e.g. a
            :class:`~wpgd.numerics.core.classes.ClassOptimum`.
        problem: the setting (its segments fix the token layout).
        fmt: the token layout (delimiter "boundary" gives every boundary its own code; the
            trainer's label and feature scales are accounted for).
        heads: H (the construction uses head 0; RetNet uses every head).
        key_dim: total key width (default :func:`~wpgd.numerics.nn.arch.arch_model`'s).
        aggregation: "sum" or "mean" (the construction scales Q by T for "mean").
        dtype, device: of the model.

    Returns:
        The model; ``PromptSampler(problem, fmt).predict(model, tokens)`` is the WPGD prediction.

    Raises:
        InvalidProblemError: ``name`` has no WPGD form or is unknown; ω is outside the set the
            architecture realises on this prompt (e.g. decreasing segment weights for mamba2 with
            context "none", ω not ∝ γ^(T−1−t) for retnet), not constant within segments, or the key
            width is too small.
    """
    if name not in ARCHITECTURES:
        raise InvalidProblemError(f"unknown architecture {name!r}: choose one of {', '.join(WPGD_ARCHITECTURES)}")
    if name not in WPGD_ARCHITECTURES:
        raise InvalidProblemError(f"{name} has no WPGD form (a delta-rule update): there is nothing to construct")
    P = np.asarray(optimum.P, dtype=np.float64)
    omega = np.asarray(optimum.omega, dtype=np.float64)
    if P.shape != (problem.d, problem.d) or not np.all(np.isfinite(P)):
        raise InvalidProblemError(f"P must be a finite ({problem.d}, {problem.d}) matrix, got shape {P.shape}")
    lay = _Layout(problem, fmt)
    model = arch_model(name, lay.token_dim, heads=heads, key_dim=key_dim, dtype=dtype, device=device,
                       aggregation=aggregation)
    _zero_params(model)
    a = model.output_scale(lay.seq_len)
    P = fmt.token_preconditioner(P, problem.sigma)  # the tokens carry M x (PromptFormat.feature_map)
    unit = 1.0 / a
    if name == "retnet":
        _retnet(model, lay, omega, P, unit)
        return model
    w = segment_weights(problem, omega)
    if name == "mamba2":
        _mamba2(model, lay, w, P, unit)
    elif name == "mlstm":
        _mlstm(model, lay, w, P, unit)
    elif name == "gla":
        _vector(model, lay, w, P, unit, lambda lg: _logit(GATE_LOGIT_NORMALIZER * lg), BIG)
    else:
        _vector(model, lay, w, P, unit, lambda lg: math.log(-lg), -BIG)
    return model
