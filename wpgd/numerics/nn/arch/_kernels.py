"""Shared pieces of the architecture kernels: input checks and causal decay matrices.

Conventions (flash-linear-attention's): ``q, k: [B, T, H, K]``, ``v: [B, T, H, V]``, log-decays
``[B, T, H]`` (one per head) or ``[B, T, H, K]`` (one per key channel), state ``S ∈ R^{K×V}``
per head, output ``o_t = S_tᵀ q_t``. Decays stay in log space: a product of decays over a range
of tokens is the exponential of a masked difference of cumulative sums, never a quotient.
"""

from __future__ import annotations

import math

import torch

__all__ = ["check_qkv", "check_heads", "check_log_decays", "causal_decays"]


def check_qkv(q, k, v) -> None:
    """Raise ValueError unless q, k are [B, T, H, K] of one shape and v is [B, T, H, V]."""
    if q.ndim != 4 or k.shape != q.shape:
        raise ValueError(f"q and k must both be [B, T, H, K], got {tuple(q.shape)} and {tuple(k.shape)}")
    if v.ndim != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"v must be [B, T, H, V] with the B, T, H of q, got {tuple(v.shape)}")


def check_heads(x, q, what: str) -> None:
    """Raise ValueError unless ``x`` is [B, T, H] with the B, T, H of q."""
    if x.shape != q.shape[:3]:
        raise ValueError(f"{what} must be [B, T, H] = {tuple(q.shape[:3])}, got {tuple(x.shape)}")


def check_log_decays(log_g, q, per_channel: bool) -> None:
    """Raise ValueError unless ``log_g`` has the expected shape and every entry is ≤ 0 and not NaN.

    Args:
        log_g: [B, T, H] (``per_channel`` False) or [B, T, H, K] (True).
        q: the queries whose B, T, H (and K) it must match.
        per_channel: one decay per key channel.
    """
    shape = tuple(q.shape) if per_channel else tuple(q.shape[:3])
    if tuple(log_g.shape) != shape:
        raise ValueError(f"log-decays must have shape {shape}, got {tuple(log_g.shape)}")
    if bool(torch.isnan(log_g).any()):
        raise ValueError("log-decays contain NaN")
    if bool((log_g > 0).any()):
        raise ValueError(f"log-decays must be ≤ 0 (decays in [0, 1]); got {float(log_g.detach().max()):.6g}")


def causal_decays(log_g, dim: int = 1):
    """``D[t, s] = exp(Σ_{s<u≤t} log g_u)`` for s ≤ t and 0 for s > t, along time axis ``dim``.

    The exponent is a difference of cumulative sums of log-decays, masked to −∞ off the causal
    triangle *before* the exponential. A decay of exactly 0 (log g = −∞) would make the difference
    −∞ − (−∞); such entries are counted separately (the decay is 0 when one lies in (s, t]).

    Args:
        log_g: log-decays with time on axis ``dim`` (any trailing axes, e.g. heads, channels).
        dim: the time axis.

    Returns:
        shape of ``log_g`` with the time axis replaced by two axes (t, s) at ``dim``, ``dim + 1``.
    """
    t_len = log_g.shape[dim]
    zero = torch.isneginf(log_g)
    has_zero = bool(zero.any())
    finite = torch.where(zero, torch.zeros_like(log_g), log_g) if has_zero else log_g
    cum = torch.cumsum(finite, dim=dim)
    diff = cum.unsqueeze(dim + 1) - cum.unsqueeze(dim)  # [..., t, s, ...] = C_t − C_s
    causal = torch.ones(t_len, t_len, dtype=torch.bool, device=log_g.device).tril()
    shape = [1] * diff.ndim
    shape[dim], shape[dim + 1] = t_len, t_len
    keep = causal.reshape(shape)
    if has_zero:
        count = torch.cumsum(zero.to(log_g.dtype), dim=dim)
        keep = keep & (count.unsqueeze(dim + 1) == count.unsqueeze(dim))
    return torch.exp(torch.where(keep, diff, diff.new_tensor(-math.inf)))
