"""``wpgd train``: train one GLA model on fresh prompts of a spec and compare it with theory."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from numerics.errors import InvalidProblemError
from numerics.references import MODEL_KINDS
from numerics.spec import load_spec

from ..io import print_json, resolve_device

HELP = "train a GLA (linear / scalar / scalar-nodelim / vector) on a spec and compare with the theory optimum"
DESCRIPTION = """\
Train a gated-linear-attention model from random initialisation on fresh prompts of the
problem spec (THEORY.md §3), evaluate it on fresh held-out prompts with a 95% bootstrap
interval, and print its normalised risk next to the theory optimum of its class:

  linear          linear attention, no delimiters          vs  linear-attention optimum (ω ∝ 1)
  scalar          scalar gate, delimiter tokens            vs  scalar-gating optimum (ω ≥ 0 non-decreasing)
  scalar-nodelim  scalar gate, no delimiters               vs  fixed-decay line (not a bound) and scalar optimum
  vector          vector gate, delimiters, key width 2d    vs  vector-gating optimum and unconstrained optimum

The run folder (--out) holds config.json, checkpoint.pt, history.json and metrics.json; running
the same command again resumes from the checkpoint (bit-for-bit on the same device), and Ctrl-C
writes a checkpoint before exiting. Risks are normalised by r_q tr Σ + σ² (1 = predicting zero).

example:
  wpgd train --spec examples/two_segments.toml --model scalar --layers 1 --steps 1000
"""


def _bias(text: str):
    """``--init-gate-bias`` value: a float, or 'none' for GLAModel's own initialisation."""
    return _NONE if text.lower() == "none" else float(text)


_NONE = "none"


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML)")
    p.add_argument("--model", required=True, choices=list(MODEL_KINDS), help="model family")
    p.add_argument("--layers", type=int, default=1, help="GLA layers (default 1)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (default 1000; 6000 for vector)")
    p.add_argument("--batch-size", type=int, default=None, help="fresh prompts per step (default 256)")
    p.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate (default 0.01)")
    p.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (default 0)")
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None, help="lr schedule after warm-up")
    p.add_argument("--clip", type=float, default=None, help="gradient-norm clip, 0 = off (default 1)")
    p.add_argument("--key-dim", type=int, default=None, help="key width (default: 2d for vector, token width otherwise)")
    p.add_argument("--heads", type=int, default=None, help="attention heads (default 1)")
    p.add_argument("--delimiter", choices=["none", "flag", "label"], default=None,
                   help="delimiter encoding between segments (default: flag for scalar/vector, none otherwise)")
    p.add_argument("--context", choices=["none", "onehot"], default=None, help="per-segment context features")
    p.add_argument("--train-pool", type=int, default=None, help="fixed training pool size (default 0 = fresh prompts)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None, help="default float32")
    p.add_argument("--mode", choices=["auto", "parallel", "chunked", "recurrent"], default=None,
                   help="GLA kernel of the layers below the last (default auto: chunked for vector gating, "
                        "parallel otherwise; the last layer is always evaluated at the query only)")
    p.add_argument("--init-value-scale", type=float, default=None,
                   help="scale of the value projections at initialisation (default 0.1, see docs/training.md)")
    p.add_argument("--init-gate-bias", type=_bias, default=None, metavar="B|none",
                   help="initial gate bias (default 6, vector: none; 'none' keeps GLAModel's 3)")
    p.add_argument("--restarts", type=int, default=None, help="plateau restarts (default 4, vector 0; 0 = off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation; data/eval seeds are seed+1..+3")
    p.add_argument("--eval-prompts", type=int, default=None, help="periodic held-out set size (default 4096)")
    p.add_argument("--final-prompts", type=int, default=None, help="final held-out prompts (default 100000)")
    p.add_argument("--no-control-variate", action="store_true",
                   help="report the plain mean (the control-variate estimate uses the class-optimal WPGD predictor)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--out", metavar="DIR", default=None, help="run folder (default results/train/<spec>-<model>-L<layers>-s<seed>)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out (overwrite)")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of text")


def run(args) -> int:
    from numerics.training import TrainConfig, train, with_overrides

    problem = load_spec(args.spec)
    device = resolve_device(args.device)
    if args.seed < 0:
        raise InvalidProblemError("--seed must be ≥ 0")
    cfg = with_overrides(
        TrainConfig.for_model(args.model, layers=args.layers, seed=args.seed, data_seed=args.seed + 1,
                    eval_seed=args.seed + 2, final_seed=args.seed + 3, device=device, threads=args.threads,
                    progress=not args.json, control_variate=not args.no_control_variate),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        schedule=args.schedule, clip=args.clip, key_dim=args.key_dim, num_heads=args.heads,
        delimiter=args.delimiter, context=args.context, train_pool=args.train_pool, dtype=args.dtype,
        mode=args.mode, init_value_scale=args.init_value_scale, eval_prompts=args.eval_prompts, final_prompts=args.final_prompts,
    )
    if args.init_gate_bias is not None:
        cfg = replace(cfg, init_gate_bias=None if args.init_gate_bias == _NONE else args.init_gate_bias)
    if args.restarts is not None:
        cfg = replace(cfg, restarts=args.restarts)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.spec).stem)
    out = Path(args.out) if args.out else Path("results") / "train" / f"{stem}-{args.model}-L{args.layers}-s{args.seed}"
    if args.no_resume and (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()
    cfg = cfg.resolved(problem)  # derived defaults (step budget, lr, gate bias): train_config
    if not args.json:
        print(cfg.steps_rule)  # how the step budget was chosen (train_config.step_budget)
    res = train(problem, cfg, out, resume=not args.no_resume, extra_config={"spec": str(args.spec)})
    m = res.metrics
    if args.json:
        print_json(m)
        return 0
    print(f"run folder       {out}")
    print(f"model            {m['model']}, {m['layers']} layer(s), key width {m['key_dim']}, "
          f"n = {m['n']}, d = {m['d']}, {cfg.steps} steps")
    lo, hi = m["normalized_ci"]
    print(f"trained risk     {m['normalized_risk']:.5f}  95% CI [{lo:.5f}, {hi:.5f}] "
          f"(±{m['rel_ci_halfwidth']:.2%}, {m['plain']['samples']} fresh prompts, {m['estimator']})")
    for r in m["references"]:
        print(f"theory           {r['normalized_risk']:.5f}  {r['label']}   gap {r['gap']:+.2%}")
    for note in m["reference_notes"]:
        print(f"note             {note}")
    return 0
