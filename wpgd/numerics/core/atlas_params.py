"""Token weights ω as functions of each architecture's own gate parameters, under the one-layer
construction on the paper's prompt (docs/theory.md §8.1–8.2).

The construction's gate maps read a token's non-feature coordinates only, so a gate takes one value
per **token type**: demonstrations (one type with context "none"; one per segment with context
"onehot"), each delimiter (one code per boundary), and the query. The prompt is

    segment 1 demos, delimiter 1, segment 2 demos, …, delimiter K−1, segment K demos, query

(a dense problem: n demonstrations and the query, no delimiters). With ``L_j`` the log-decay of
token j and ``s_i`` the input scale of demonstration i, the one-layer read-out is WPGD with

    ω_i = s_i · exp(Σ_{j > i} L_j)                                                  (8.1)

(the sum over every later token up to the query, or up to the token before the query for RWKV-6,
whose output reads S_{T−1}). Per architecture, one head (vector gating: groups of d key channels
sharing a gate, combined with read-out coefficients c_h, ω = Σ_h c_h ω^{(h)}):

* retnet: L ≡ log γ_0, γ_0 = 1 − 2^{−5}; s ≡ 1; no parameters.
* mamba2: L_j = A Δ_j, Δ_j = softplus(a_τ(j)), A = −exp(A_log); s_i = Δ_i.
* gla: L_j = logsigmoid(a_τ(j), h) / 16 per group h; s ≡ 1.
* rwkv6: L_j = −exp(a_τ(j), h) per group h, the query's own decay not applied; s ≡ 1 (the bonus u
  multiplies the query's value, which is 0).
* mlstm: L_j = logsigmoid(f_τ(j)), s_i = exp(ĩ_τ(i)) (the normaliser in its ε-limit, §8.2).

Everything is computed from suffix sums of log-decays (no division by cumulative products). Used
by the brute-force checks (tests, ``wpgd verify`` check ``atlas.bruteforce``), which minimise the
risk over these parameters.
"""

from __future__ import annotations

import numpy as np

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.vocabulary import ARCHITECTURES, ATLAS_CONTEXTS, WPGD_ARCHITECTURES

__all__ = ["RETNET_DECAY", "TokenLayout", "head_weights", "num_parameters", "token_layout", "weights_from_parameters"]

RETNET_DECAY = 1.0 - 2.0**-5
"""RetNet's decay of head 0, γ_h = 1 − 2^(−5−h) (Sun et al. 2023)."""


class TokenLayout:
    """The prompt's token sequence as token types.

    Attributes:
        types: type index of every token, shape (T,) (0..num_types−1; the query is last).
        is_demo: which tokens are demonstrations, shape (T,) (their order is ω's order).
        num_types: number of distinct gate values.
    """

    def __init__(self, types: np.ndarray, is_demo: np.ndarray):
        self.types = types
        self.is_demo = is_demo
        self.num_types = int(types.max()) + 1


def token_layout(problem: Problem, context: str = "none") -> TokenLayout:
    """Token types of the paper's prompt: type 0 = demonstrations (context "none") or segment k's
    demonstrations = type k−1 (context "onehot"), then one type per delimiter, then the query."""
    if context not in ATLAS_CONTEXTS:
        raise InvalidProblemError(f"context must be one of {', '.join(ATLAS_CONTEXTS)}, got {context!r}")
    sizes = problem.segment_sizes if problem.is_segmented else (problem.n,)
    if context == "onehot" and not problem.is_segmented:
        raise InvalidProblemError("context 'onehot' needs a segment problem")
    k = len(sizes)
    demo_types = k if context == "onehot" else 1
    types, demo = [], []
    for s, size in enumerate(sizes):
        types += [s if context == "onehot" else 0] * size
        demo += [True] * size
        if s < k - 1:
            types.append(demo_types + s)
            demo.append(False)
    types.append(demo_types + k - 1)  # the query: its own type (its gate only scales ω globally)
    demo.append(False)
    return TokenLayout(np.asarray(types), np.asarray(demo))


def _block(name: str, layout: TokenLayout) -> int:
    """Parameters of one head / channel group."""
    t, gating = layout.num_types, ARCHITECTURES[_known(name)].gating
    if gating == "fixed":
        return 0
    if gating == "vector":
        return t
    return t + 1 if name == "mamba2" else 2 * t


def num_parameters(name: str, layout: TokenLayout, groups: int = 1) -> int:
    """Length of the parameter vector of :func:`weights_from_parameters`: ``groups`` blocks of
    per-head (per channel group) parameters, then the read-out coefficients c_2..c_G."""
    return groups * _block(name, layout) + groups - 1


def _known(name: str) -> str:
    if name not in WPGD_ARCHITECTURES:
        raise InvalidProblemError(f"architecture must be one of {', '.join(WPGD_ARCHITECTURES)}, got {name!r}")
    return name


def _logsigmoid(x):
    return -np.logaddexp(0.0, -x)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _suffix_weights(layout: TokenLayout, log_decay: np.ndarray, log_scale: np.ndarray,
                    include_query: bool = True) -> np.ndarray:
    """ω_i = exp(log s_i + Σ_{j>i} L_j) over the demonstrations (L, log s: per token, shape (T,))."""
    ld = np.array(log_decay, dtype=np.float64)
    if not include_query:
        ld[-1] = 0.0
    after = np.concatenate([np.cumsum(ld[::-1])[::-1][1:], [0.0]])  # Σ_{j>i} L_j
    logw = (log_scale + after)[layout.is_demo]
    return np.exp(logw - np.max(logw))  # a global scale, which P absorbs


def weights_from_parameters(name: str, layout: TokenLayout, theta, groups: int = 1) -> np.ndarray:
    """ω (shape (n,), up to a global scale) that architecture ``name`` computes with parameters θ.

    Args:
        name: a WPGD architecture.
        layout: :func:`token_layout` of the prompt.
        theta: shape (:func:`num_parameters`,): per head / channel group h (block-major) mamba2
            ``[a_τ (types), A_log]``, gla/rwkv6 ``[a_τ (types)]``, mlstm ``[f_τ (types), ĩ_τ (types)]``,
            retnet none (head h has γ_h = 1 − 2^(−5−h)); then the read-out coefficients
            c_2..c_G (c_1 = 1): ω = Σ_h c_h ω^{(h)} (heads or channel groups sharing P).
        groups: heads (scalar and fixed decays) or channel groups (vector gating).

    Returns:
        ω, shape (n,).
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (num_parameters(name, layout, groups),):
        raise InvalidProblemError(f"{name} takes {num_parameters(name, layout, groups)} parameters, got {theta.shape}")
    b = _block(name, layout)
    coeffs = np.concatenate([[1.0], theta[groups * b:]])
    out = np.zeros(int(layout.is_demo.sum()))
    for h in range(groups):
        out += coeffs[h] * _one_head(name, layout, theta[h * b:(h + 1) * b], h)
    return out


def head_weights(name: str, layout: TokenLayout, theta, head: int = 0) -> np.ndarray:
    """ω of one head (one channel group) from its own block of parameters (RetNet: none; head h
    has γ_h = 1 − 2^(−5−h)), normalised to max 1."""
    return _one_head(name, layout, np.asarray(theta, dtype=np.float64), head)


def _one_head(name: str, layout: TokenLayout, theta: np.ndarray, head: int) -> np.ndarray:
    t, types = layout.num_types, layout.types
    zero = np.zeros(types.size)
    if name == "retnet":
        return _suffix_weights(layout, np.full(types.size, np.log1p(-(2.0 ** (-5 - head)))), zero)
    if name == "mamba2":
        delta = _softplus(theta[:t])[types]
        a = -np.exp(theta[t])
        return _suffix_weights(layout, a * delta, np.log(delta))
    if name == "mlstm":
        return _suffix_weights(layout, _logsigmoid(theta[:t])[types], theta[t:][types])
    a = theta[types]
    if name == "gla":
        return _suffix_weights(layout, _logsigmoid(a) / 16.0, zero)
    return _suffix_weights(layout, -np.exp(a), zero, include_query=False)
