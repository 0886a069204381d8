"""The architectures by name, and :func:`arch_model` (one layer of any of them)."""

from __future__ import annotations

import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES

from ._base import ArchModel
from .deltanet import DeltaNet
from .gated_deltanet import GatedDeltaNet
from .gla import GLA
from .mamba2 import Mamba2
from .mlstm import MLSTM
from .retnet import RetNet
from .rwkv6 import RWKV6

__all__ = ["ARCH_MODELS", "arch_model"]

ARCH_MODELS: dict[str, type[ArchModel]] = {cls.name: cls for cls in (RetNet, Mamba2, GLA, RWKV6, MLSTM, DeltaNet,
                                                                     GatedDeltaNet)}
"""Model class of each architecture, by its API/CLI name (the vocabulary's order)."""


def arch_model(name: str, token_dim: int, *, heads: int = 1, key_dim: int | None = None,
               dtype=torch.float64, device="cpu", aggregation: str = "sum", mode: str = "parallel") -> ArchModel:
    """One randomly initialised layer of architecture ``name`` on tokens of width ``token_dim``.

    Args:
        name: an architecture name (:data:`ARCH_MODELS`).
        token_dim: D (label last).
        heads: H.
        key_dim: total key width (Mamba2: the state size, shared by the heads); None = the
            architecture's default (D per head; 2D for the per-channel decays of GLA and RWKV-6,
            enough for the vector-gating construction's 2d channels).
        dtype: float64 by default.
        device: "cpu" or "cuda".
        aggregation: "sum" (as published) or "mean" (output divided by T, for training).
        mode: "parallel" (materialised form) or "recurrent" (the naive reference).

    Returns:
        The model; ``model.predict(tokens)`` is the prediction ŷ at the final position, shape (B,),
        in the units of the label channel.

    Raises:
        InvalidProblemError: an unknown name or invalid sizes.

    >>> m = arch_model("mamba2", 4)
    >>> m.predict(torch.zeros(2, 5, 4, dtype=torch.float64)).shape
    torch.Size([2])
    """
    if name not in ARCH_MODELS:
        raise InvalidProblemError(f"unknown architecture {name!r}: choose one of {', '.join(ARCHITECTURE_NAMES)}")
    return ARCH_MODELS[name](token_dim, heads=heads, key_dim=key_dim, dtype=dtype, device=device,
                             aggregation=aggregation, mode=mode)
