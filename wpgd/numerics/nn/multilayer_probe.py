"""What a trained multi-layer GLA computes: its weight blocks, its gates per token type, ablations.

A scalar GLA layer (one head) adds ``a·W_v Σ_{s≤t} Ω_ts z_s (z_sᵀ M z_t)`` to token t, with the
key–query product ``M = W_kᵀ W_q`` (D×D) and tokens ``z = [x | flag | y]``. The WPGD construction
uses only the x-x block of M and the label entry of W_v; the gated GD++ class
(:mod:`wpgd.numerics.nn.feature_recursion`) also uses the x-x block of W_v (a feature write). This module
reports the relative size of every block, the gates each token type receives on held-out
prompts, and the held-out risk after each ablation (docs/multilayer.md):

* ``feature_write``: the value rows that write the feature channels zeroed in every layer but
  the last (the recursion (6.1) keeps features fixed);
* ``gates_by_type``: each layer's gate made data-independent: the columns of W_g that read x
  and y zeroed and the bias shifted so the gate logit keeps its mean over demonstrations (the
  class's demonstration/delimiter gates);
* ``off_class``: every block outside the gated GD++ class zeroed (M outside its x-x block, W_v
  outside its x-x block and label entry).

:func:`train_in_class` trains a GLA held inside those blocks (the off-class entries start at
zero and their gradients are masked), the architecture's own route to the class optimum: at
L = 3 it lands on the fitted optimum while the unrestricted model goes below it
(docs/multilayer.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_run_model", "weight_blocks", "gate_profile", "ablations", "class_masks", "train_in_class"]


def load_run_model(run_dir, problem):
    """The final model of a training run folder, its sampler and its config.

    Returns:
        (model in eval mode, PromptSampler, TrainConfig).
    """
    from wpgd.numerics.nn.prompts import PromptSampler
    from wpgd.numerics.nn.train_config import build_model
    from wpgd.numerics.nn.training import TrainConfig, load_checkpoint

    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    cfg = TrainConfig.from_dict(state["config"])
    sampler = PromptSampler(problem, cfg.prompt_format_for(problem), dtype=cfg.torch_dtype, device=cfg.device)
    w_q = state["model"]["layers.0.W_q"]
    model = build_model(cfg, sampler.token_dim, int(w_q.shape[0] * w_q.shape[1]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, sampler, cfg


def _blocks(D: int, d: int) -> dict:
    rest = slice(d, D - 1)
    return {"x": slice(0, d), "ctx": rest, "y": slice(D - 1, D)}


def weight_blocks(model, d: int) -> list[dict]:
    """Frobenius norms of the blocks of ``M = Σ_h W_kᵀW_q`` and ``W_v`` per layer, relative to the largest.

    Keys ``M[a,b]`` (a: the key side, b: the query side) and ``V[a←b]`` (written channel a from
    channel b), a, b ∈ {x, ctx (flag/segment coordinates), y}.
    """
    out = []
    for layer in model.layers:
        Wq, Wk, Wv = (p.detach().double().numpy() for p in (layer.W_q, layer.W_k, layer.W_v))
        D = Wq.shape[-1]
        M = sum(Wk[h].T @ Wq[h] for h in range(Wq.shape[0]))
        V = Wv.sum(0)
        blk = _blocks(D, d)
        row = {}
        for a, sa in blk.items():
            for b, sb in blk.items():
                if sa.stop > sa.start and sb.stop > sb.start:
                    row[f"M[{a},{b}]"] = float(np.linalg.norm(M[sa, sb]))
                    row[f"V[{a}←{b}]"] = float(np.linalg.norm(V[sa, sb]))
        mm = max(v for k, v in row.items() if k.startswith("M")) or 1.0
        mv = max(v for k, v in row.items() if k.startswith("V")) or 1.0
        out.append({k: v / (mm if k.startswith("M") else mv) for k, v in row.items()})
    return out


def gate_profile(model, sampler, prompts: int = 2000, seed: int = 7) -> list[dict]:
    """Mean and spread of each layer's gate per token type (demonstration, delimiter, query).

    Gates are evaluated on the residual stream each layer actually receives.
    """
    import torch

    from wpgd.numerics.nn.prompts import make_generator

    batch = sampler.sample(prompts, make_generator(seed))
    z = batch.tokens
    demo = torch.as_tensor(sampler.demo_positions)
    delim = getattr(sampler, "delimiter_positions", None)
    out = []
    with torch.no_grad():
        for layer in model.layers:
            g = layer.log_gates(z).exp()[..., 0, 0]  # (B, T), first head
            row = {
                "demo": float(g[:, demo].mean()),
                "demo_std": float(g[:, demo].std()),
                "query": float(g[:, -1].mean()),
                "query_std": float(g[:, -1].std()),
            }
            if delim is not None and len(delim):
                dd = torch.as_tensor(delim)
                row.update({"delimiter": float(g[:, dd].mean()), "delimiter_std": float(g[:, dd].std())})
            out.append(row)
            z = layer(z)
    return out


def _freeze_gates(model, sampler, d: int) -> None:
    """Make every gate data-independent (reading only the flag), keeping its mean demonstration logit."""
    import torch

    from wpgd.numerics.nn.prompts import make_generator

    z = sampler.sample(2000, make_generator(99)).tokens
    demo = torch.as_tensor(sampler.demo_positions)
    with torch.no_grad():
        for layer in model.layers:
            if layer.W_g is not None:
                logit = torch.einsum("hgd,btd->bthg", layer.W_g, z) + layer.b_g
                mean_demo = logit[:, demo].mean(dim=(0, 1))
                layer.W_g[..., :d] = 0.0
                layer.W_g[..., -1] = 0.0
                layer.b_g.copy_(mean_demo)
            z = layer(z)


def class_masks(model, d: int, label_rescale: bool = False) -> list[dict]:
    """Per layer, 0/1 masks of ``W_q``, ``W_k``, ``W_v`` that keep only the gated GD++ blocks:
    queries and keys read the feature channels (M = W_kᵀW_q has only its x-x block), values
    write the x-x block and the label entry.

    ``label_rescale=True`` also keeps the delimiter's label rescaling: one more key coordinate
    whose query reads the label channel and whose key reads the delimiter coordinates (M gets a
    ctx-y block and nothing else), and the value rows writing the label from the delimiter
    coordinates. Only delimiters carry those coordinates and their feature and label channels
    are zero, so the head adds ``c·Σ_{δ≤t} Ω_tδ r_t`` to each token's label channel r_t: a
    gated, per-segment rescaling of the residuals (docs/multilayer.md §3.2). Needs a key width
    ≥ d + 1.
    """
    import torch

    from wpgd.numerics.core.errors import InvalidProblemError

    out = []
    for layer in model.layers:
        D = layer.W_q.shape[-1]
        if label_rescale and layer.W_q.shape[1] < d + 1:
            raise InvalidProblemError(f"label_rescale needs key width ≥ d + 1 = {d + 1}, got {layer.W_q.shape[1]}")
        mq, mk = torch.zeros_like(layer.W_q), torch.zeros_like(layer.W_k)
        mq[:, :, :d] = 1.0
        mk[:, :, :d] = 1.0
        mv = torch.zeros_like(layer.W_v)
        mv[:, :d, :d] = 1.0
        mv[:, D - 1, D - 1] = 1.0
        if label_rescale:
            mq[:, d, :] = 0.0
            mk[:, d, :] = 0.0
            mq[:, d, D - 1] = 1.0
            mk[:, d, d : D - 1] = 1.0
            mv[:, D - 1, d : D - 1] = 1.0
        out.append({"W_q": mq, "W_k": mk, "W_v": mv})
    return out


def _off_class(model, d: int) -> None:
    import torch

    with torch.no_grad():
        for layer, masks in zip(model.layers, class_masks(model, d)):
            for name, mask in masks.items():
                getattr(layer, name).mul_(mask)


def train_in_class(problem, config, out_dir=None, *, label_rescale: bool = False):
    """Train a scalar GLA whose projections stay inside the gated GD++ blocks (:func:`class_masks`).

    The model is ``train_config.build_model``'s initialisation with the off-class entries zeroed;
    gradient hooks zero their gradients, so with ``weight_decay = 0`` (the default) AdamW never
    moves them (checked after training). Gates stay data-dependent (a superset of the class's
    type gates that the ablations show unused). No plateau restarts (the model is the caller's).

    Args:
        problem: the setting.
        config: a :class:`wpgd.numerics.nn.train_config.TrainConfig` (model "scalar").
        out_dir: run folder (as for :func:`wpgd.numerics.nn.training.train`).
        label_rescale: also allow the delimiter's label rescaling (:func:`class_masks`).

    Returns:
        The :class:`wpgd.numerics.nn.training.TrainResult`.

    Raises:
        InvalidProblemError: a model family other than "scalar", weight decay > 0, or an
            off-class entry that moved.
    """
    from dataclasses import replace

    import torch

    from wpgd.numerics.core.errors import InvalidProblemError
    from wpgd.numerics.nn.prompts import PromptSampler
    from wpgd.numerics.nn.train_config import build_model, default_key_dim
    from wpgd.numerics.nn.training import train

    if config.model != "scalar" or config.weight_decay != 0:
        raise InvalidProblemError("train_in_class needs the scalar family and weight_decay = 0 (decay would "
                                  "move masked entries)")
    config = replace(config, restarts=0).resolved(problem)
    sampler = PromptSampler(problem, config.prompt_format_for(problem), dtype=config.torch_dtype,
                            device=config.device)
    model = build_model(config, sampler.token_dim, default_key_dim(config, problem, sampler.token_dim))
    masks = class_masks(model, problem.d, label_rescale)
    with torch.no_grad():
        for layer, lm in zip(model.layers, masks):
            for name, mask in lm.items():
                param = getattr(layer, name)
                param.mul_(mask)
                param.register_hook(lambda grad, mask=mask: grad * mask)
    result = train(problem, config, out_dir, model=model)
    for layer, lm in zip(result.model.layers, masks):
        for name, mask in lm.items():
            if bool((getattr(layer, name).detach() * (1 - mask)).abs().max() > 0):
                raise InvalidProblemError(f"train_in_class: an off-class entry of {name} moved")
    return result


def ablations(run_dir, problem, *, prompts: int = 20_000, seed: int = 12345) -> dict:
    """Held-out normalised risk of the trained model as is and after each ablation (module docstring).

    Returns:
        {name: {"risk", "ci"}} for "trained", "feature_write", "gates_by_type", "off_class", plus
        "prompts"; plain means with 95% bootstrap intervals on the same prompts.
    """
    import torch

    from wpgd.numerics.nn.evaluation import HeldOutSet, evaluate

    d, nr = problem.d, problem.null_risk
    model, sampler, _ = load_run_model(run_dir, problem)
    heldout = HeldOutSet(sampler, prompts, seed)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def score():
        est, _ = evaluate(model, heldout)
        return {"risk": est.normalized, "ci": [est.ci_low / nr, est.ci_high / nr]}

    out = {"trained": score(), "prompts": int(prompts)}
    with torch.no_grad():
        for layer in model.layers[:-1]:
            layer.W_v[:, :d, :] = 0.0
    out["feature_write"] = score()
    model.load_state_dict(state)
    _freeze_gates(model, sampler, d)
    out["gates_by_type"] = score()
    model.load_state_dict(state)
    _off_class(model, d)
    out["off_class"] = score()
    model.load_state_dict(state)
    return out
