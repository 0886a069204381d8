"""The trainer's AdamW: the fused kernel where the torch build has it, and a resume that keeps it.

One place for the optimiser's implementation choice: ``train_loop.make_optimiser`` builds with
:func:`make_adamw`, and ``checkpoint`` loads a saved state through :func:`keep_implementation`.
"""

from __future__ import annotations

import torch


def make_adamw(groups, **kw):
    """AdamW with ``fused=True`` where this torch build has the fused kernel for the parameters'
    device and dtype (CUDA; the CPU from torch 2.4): one kernel per parameter group instead of
    several per tensor. A training step at small sizes is bound by the work done per tensor, not by
    arithmetic (on a GPU, by kernel launches), and the default implementation's update was about
    a sixth of it (``benchmarks/bench_train.py``). The same algorithm; only the float rounding of
    the update differs. Without the fused kernel, the default implementation."""
    try:
        return torch.optim.AdamW(groups, fused=True, **kw)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(groups, **kw)


def keep_implementation(optimizer, load) -> None:
    """Run ``load()`` (which loads a saved optimizer state into ``optimizer``) and keep this
    optimiser's implementation (fused or not): the saved parameter groups carry the flags of the
    machine that saved them, which may lack the fused kernel or have it where this one does not.
    Each step counter is then placed where the kept implementation reads it (fused: the
    parameter's device, in float32; otherwise the CPU)."""
    flags = [{k: g.get(k) for k in ("fused", "foreach")} for g in optimizer.param_groups]
    load()
    for group, own in zip(optimizer.param_groups, flags):
        group.update(own)
        for p in group["params"]:
            st = optimizer.state.get(p)
            if st and torch.is_tensor(st.get("step")):
                step = st["step"]
                st["step"] = step.to(device=p.device, dtype=torch.float32) if own["fused"] else step.to("cpu")

