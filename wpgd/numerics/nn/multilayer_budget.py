"""The derived step budget of an L-layer training run (docs/multilayer.md, "Step budget for L layers").

The rule lives in one place, :func:`wpgd.numerics.nn.train_config.step_budget` (its ``layers``
argument), which :meth:`TrainConfig.resolved` applies to every run, ``wpgd train --layers L``
included. This module keeps the names the multi-layer experiment and its tests use:

    steps_L = L·base + per_param·p_L·256/batch   (× vector factor; rounded up to ``round``)

with ``p_L = L·(d(d+1)/2 + K) + (L − 1)·d(d+1)/2`` the free parameters of the L-step gated GD++
class (:func:`layer_class_params`). At L = 1 this is the one-layer rule.
"""

from __future__ import annotations

from wpgd.numerics.nn.train_config import layer_class_params, step_budget

__all__ = ["layer_step_budget", "layer_class_params"]


def layer_step_budget(model: str, d: int, num_segments: int, batch_size: int, layers: int) -> tuple[int, str]:
    """Default optimiser steps of an L-layer run, and one line saying how they were chosen
    (:func:`wpgd.numerics.nn.train_config.step_budget` with ``layers``).

    Raises:
        InvalidProblemError: an unknown model, or L, d or the batch < 1.
    """
    return step_budget(model, d, num_segments, batch_size, layers)
