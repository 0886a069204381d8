"""The rank-one label trap of GLA training: an ablation of the start of the label channel, and the recipe's trap test.

A WPGD predictor needs the terms ``x_s·y_s`` of every demonstration. A one-layer GLA can form them
two ways: the key reads the features and the value's read-out reads the label (the construction;
any rank of the preconditioner P), or the key reads the label and the value reads the features
(``P = a·w_xᵀ``: rank one, the "label trap" of docs/training.md). This script trains the vector
family's default recipe with the label channel started in several ways and prints, per run, the gap to
the vector optimum, the value's label weight ``w_y`` and the norm of its feature weights ``w_x``
(``--channels`` adds, per key channel, the score sign on the features, the key's label weight and
the mean weight each segment gets from that channel's gates at the query):

* ``default``: the label column of W_q/W_k inside the random orthogonal start, the whole value
  row random (the default vector recipe);
* ``keys``: only the label column of W_q/W_k started at 0;
* ``value``: only the value's read-out started on the label (its other entries 0);
* ``split``: both (as the opt-in ``init_label_split``, but zeroing the default draw rather than
  drawing the orthogonal start on the non-label coordinates, so numbers differ at the same seed);
* ``features``: as ``split``, but only the value's feature entries start at 0 (its delimiter
  entries stay random);
* ``recipe``: ``TrainConfig.for_model(--model)`` unchanged: the probe's label-trap test rewrites a
  trapped run out of the trap (docs/training.md, "The label-trap test").

The starts other than ``recipe`` run without restarts and without the label-trap test, so that
each row shows where its start ends. ``--model linear`` (or scalar) trains another family with the same starts.

Usage::

    python benchmarks/vector_label_trap.py --spec d2 --steps 1500
    python benchmarks/vector_label_trap.py --spec tutorial --steps 2000 --variants default split
    python benchmarks/vector_label_trap.py --spec docs/training_grid/d3_diag_reversed.toml --channels
    python benchmarks/vector_label_trap.py --spec d2 --variants recipe --steps 0 --seeds 0 4 --final-prompts 100000
    python benchmarks/vector_label_trap.py --spec d2-linear --model linear --variants default recipe --steps 0 --seeds 1 7

One thread; seconds are wall-clock of a possibly shared machine, not a benchmark.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wpgd.numerics.nn.training as training  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.spec import load_spec  # noqa: E402
from wpgd.numerics.nn.prompts import PromptSampler, make_generator  # noqa: E402
from wpgd.numerics.nn.training import TrainConfig, train  # noqa: E402

VARIANTS = ("default", "keys", "value", "split", "features", "recipe")


def _toeplitz(d: int, rho: float) -> np.ndarray:
    i = np.arange(d)
    return rho ** np.abs(i[:, None] - i[None, :])


NAMED = {
    "d2": lambda: Problem.segmented(np.eye(2), [6, 6], [-0.6, 0.7], noise=0.1),
    "tutorial": lambda: Problem.segmented(_toeplitz(6, 0.7), [8, 8, 8], [0.8, 0.2, 0.4], noise=0.2),
    "d2-linear": lambda: Problem.segmented(np.eye(2), [16], [0.9], noise=0.3),
}


def _start(variant: str, d: int):
    """A ``build_model`` for ``variant``: the recipe without ``init_label_split``, then the
    variant's zero entries (``split`` gives the same start as the default)."""
    base = training.build_model

    def build(config, token_dim, key_dim):
        model = base(config, token_dim, key_dim)
        with torch.no_grad():
            for layer in model.layers:
                if variant in ("keys", "split", "features"):
                    layer.W_q[:, :, -1] = 0
                    layer.W_k[:, :, -1] = 0
                if variant in ("value", "split"):
                    layer.W_v[:, -1, :-1] = 0
                if variant == "features":
                    layer.W_v[:, -1, :d] = 0
        return model

    return build


def _channels(model, problem: Problem, config: TrainConfig) -> None:
    layer = model.layers[0]
    d = problem.d
    wq, wk = layer.W_q[0].detach().double(), layer.W_k[0].detach().double()
    sampler = PromptSampler(problem, config.prompt_format_for(problem), dtype=torch.float64)
    z = sampler.sample(512, make_generator(99)).tokens
    with torch.no_grad():
        lg = layer.double().log_gates(z)[:, :, 0, :]
        suffix = torch.flip(torch.cumsum(torch.flip(lg, [1]), 1), [1])
        weight = torch.exp(suffix - lg).mean(0)  # weight of token s at the query, per channel
    starts = np.concatenate([[0], np.cumsum(np.array(problem.segment_sizes) + 1)[:-1]])
    for c in range(wq.shape[0]):
        segw = " ".join(f"{float(weight[s:s + n, c].mean()):.2f}" for s, n in zip(starts, problem.segment_sizes))
        print(f"    channel {c:2d}: score sign on x {float(wq[c, :d] @ wk[c, :d]):+.3f}, key label weight "
              f"{float(wk[c, -1]):+.3f}, segment weights {segw}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="d2", help="d2, tutorial, or a spec TOML (default d2)")
    ap.add_argument("--steps", type=int, default=1500, help="optimiser steps, 0 = the derived budget (default 1500)")
    ap.add_argument("--model", default="vector", help="model family (default vector)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="initialisation seeds (default 0)")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                    help="label-channel starts to train (default all)")
    ap.add_argument("--final-prompts", type=int, default=20000, help="final held-out prompts (default 20000)")
    ap.add_argument("--channels", action="store_true", help="print the per-channel diagnostics")
    args = ap.parse_args(argv)
    problem = NAMED[args.spec]() if args.spec in NAMED else load_spec(args.spec)
    original = training.build_model
    print(f"| spec | start | seed | trained | {args.model} optimum | gap | value w_y | ‖value w_x‖ | "
          "label-trap share | probe action | steps | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        for seed in args.seeds:
            kw = dict(seed=seed, final_prompts=args.final_prompts, checkpoint_every=0, progress=False, threads=1)
            if args.steps:
                kw["steps"] = args.steps
            if variant != "recipe":
                kw.update(init_label_split=False, restarts=0, trap_threshold=None, eval_every=500)
                training.build_model = _start(variant, problem.d)
            cfg = TrainConfig.for_model(args.model, **kw)
            try:
                t0 = time.perf_counter()
                res = train(problem, cfg)
            finally:
                training.build_model = original
            m = res.metrics
            ref = m["references"][0]
            row = res.model.layers[0].W_v[0, -1].detach()
            restarts = "; ".join(f"{h['reason']} at step {h['step']} (share {h['label_trap_share']:.3f}"
                                 f"{', repaired' if h.get('repair') else ', restarted'})"
                                 if h.get("label_trap_share") is not None else f"{h.get('reason')} at step {h['step']}"
                                 for h in res.history if h.get("restart") or h.get("repair")) or "none"
            share = m.get("label_trap_share")
            print(f"| {args.spec} | {variant} | {seed} | {m['normalized_risk']:.5f} | "
                  f"{ref['normalized_risk']:.5f} | {100 * ref['gap']:+.2f}% | {float(row[-1]):+.3f} | "
                  f"{float(row[:problem.d].norm()):.3f} | {'–' if share is None else f'{share:.3f}'} | {restarts} | "
                  f"{m['steps']} | {time.perf_counter() - t0:.0f} |", flush=True)
            if args.channels:
                _channels(res.model, problem, cfg.resolved(problem))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
