"""The derived step budget of an L-layer training run (docs/multilayer.md, "Step budget for L layers").

The one-layer rule (:func:`wpgd.numerics.nn.train_config.step_budget`, docs/training.md) is
``steps = base + per_param·p·256/batch`` with ``p = d(d+1)/2 + K`` the free parameters of the
class optimum. For L layers the same two terms are counted for the L-step class the models land
on (the gated GD++ class, :mod:`wpgd.numerics.nn.gdpp_optimum`):

* ``p_L = L·(d(d+1)/2 + K) + (L − 1)·d(d+1)/2``: every layer has a symmetric label
  preconditioner and K segment weights, every layer below the last also a symmetric feature
  write ``A_l B_l``;
* the transient ``base`` is paid once per layer: a layer's update only changes the loss once
  the layers above it read its output, so deep linear models leave their idle point one
  layer after the other (the stage-wise learning of Saxe et al., 2014), not all at once.

    steps_L = L·base + per_param·p_L·256/batch   (× vector factor; rounded up to ``round``)

with the constants of :data:`wpgd.numerics.nn.train_config.STEP_BUDGET` (not re-tuned). At
L = 1 this is the one-layer rule.
"""

from __future__ import annotations

import math

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.references import MODEL_KINDS
from wpgd.numerics.nn.train_config import STEP_BUDGET

__all__ = ["layer_step_budget", "layer_class_params"]


def layer_class_params(d: int, num_segments: int, layers: int) -> int:
    """``p_L``: free parameters of the L-step gated GD++ class that training must pin down."""
    if layers < 1 or d < 1:
        raise InvalidProblemError(f"need layers ≥ 1 and d ≥ 1, got layers = {layers}, d = {d}")
    sym = d * (d + 1) // 2
    k = max(1, int(num_segments or 1))
    return layers * (sym + k) + (layers - 1) * sym


def layer_step_budget(model: str, d: int, num_segments: int, batch_size: int, layers: int) -> tuple[int, str]:
    """Default optimiser steps of an L-layer run, and one line saying how they were chosen.

    Args:
        model: model family (vector gating multiplies by ``STEP_BUDGET["vector_factor"]``).
        d: feature dimension.
        num_segments: K.
        batch_size: prompts per step.
        layers: L ≥ 1.

    Returns:
        (steps, note). At L = 1 the steps equal ``train_config.step_budget``'s.

    Raises:
        InvalidProblemError: an unknown model, or L, d or the batch < 1.
    """
    if model not in MODEL_KINDS:
        raise InvalidProblemError(f"unknown model {model!r}")
    if batch_size < 1:
        raise InvalidProblemError(f"batch_size must be ≥ 1, got {batch_size}")
    p = layer_class_params(d, num_segments, layers)
    raw = layers * STEP_BUDGET["base"] + STEP_BUDGET["per_param"] * p * 256 / batch_size
    vector = MODEL_KINDS[model].gating == "vector"
    if vector:
        raw *= STEP_BUDGET["vector_factor"]
    r = STEP_BUDGET["round"]
    steps = int(math.ceil(raw / r) * r)
    factor = f" × {STEP_BUDGET['vector_factor']:g} (vector gating)" if vector else ""
    note = (f"step budget {steps}: derived for L = {layers} layers, (L·{STEP_BUDGET['base']} + "
            f"{STEP_BUDGET['per_param']:g}·p_L·256/batch){factor} with p_L = L(d(d+1)/2 + K) + (L−1)d(d+1)/2 "
            f"= {p} (d = {d}, K = {max(1, int(num_segments or 1))}, batch {batch_size}), rounded up to {r}; "
            "--steps overrides")
    return steps, note
