"""Continue a finished training run to more steps, on one of two learning-rate schedules.

The evidence behind the automatic re-run of docs/training.md ("Automatic re-run"): a vector run
that ended at the best one-signed weights' risk is continued from its checkpoint, and the result
is compared with a fresh run of as many steps (``wpgd train --steps M --no-resume``). Schedules:

* ``follow``: what ``wpgd train --steps M`` does to a finished run: the rate of the M-step
  warm-up + cosine schedule from the current step on (``training._continue_run``).
* ``rewarm``: a new schedule over the added steps: a linear warm-up over ``warmup`` of them (5%),
  then a cosine to 0, as if the added steps were a run of their own.

The run folder is copied to ``--out`` first, so the finished run is kept.

Usage::

    python benchmarks/continue_vs_rerun.py --spec docs/training_grid/results/sign_change_d24_d32/d24_toep_3seg_signchange.toml \\
        --run RUN_DIR --model vector --to 48000 --schedule rewarm --final-prompts 20000 --out OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def rewarm_factor(config, start: int, lr_factor):
    """``step -> lr / peak lr`` of the ``rewarm`` schedule: the trainer's own schedule
    ``lr_factor`` (``train_loop.lr_factor``, passed in before it is replaced) of a run as long as
    the steps from ``start`` to ``config.steps``, shifted to begin at ``start``."""
    from dataclasses import replace

    planned = lr_factor(replace(config, steps=config.steps - start))
    return lambda step: planned(step - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, help="problem spec (TOML) of the run")
    ap.add_argument("--run", required=True, help="the finished run folder (wpgd train --out)")
    ap.add_argument("--model", default="vector", help="model family of the run (default vector)")
    ap.add_argument("--seed", type=int, default=0, help="the run's --seed (default 0)")
    ap.add_argument("--to", type=int, required=True, help="total steps after the continuation")
    ap.add_argument("--schedule", choices=["follow", "rewarm"], default="follow", help="lr schedule (default follow)")
    ap.add_argument("--final-prompts", type=int, default=100_000, help="final held-out prompts (default 100000)")
    ap.add_argument("--out", required=True, help="folder the run is copied to and continued in")
    args = ap.parse_args(argv)

    from wpgd.numerics.core.spec import load_spec
    from wpgd.numerics.nn import train_loop, training
    from wpgd.numerics.nn.train_config import TrainConfig

    out = Path(args.out)
    if out.exists():
        print(f"continue_vs_rerun: {out} exists; choose another --out", file=sys.stderr)
        return 2
    shutil.copytree(args.run, out)
    start = int(training.load_checkpoint(out / "checkpoint.pt")["step"])
    if args.schedule == "rewarm":
        planned = train_loop.lr_factor

        def factor(config):
            return rewarm_factor(config, start, planned)

        train_loop.lr_factor = factor  # the scheduler made for the continuation
        training.lr_factor = factor  # the rate set at the current step (training._continue_run)
    problem = load_spec(args.spec)
    cfg = TrainConfig.for_model(args.model, steps=args.to, final_prompts=args.final_prompts, threads=1, seed=args.seed,
                                data_seed=args.seed + 1, eval_seed=args.seed + 2, final_seed=args.seed + 3,
                                progress=False)
    res = training.train(problem, cfg, out, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    m = res.metrics
    print(json.dumps({"schedule": args.schedule, "from": start, "to": args.to, "normalized_risk": m["normalized_risk"],
                      "normalized_ci": m["normalized_ci"], "gap": m["gap"], "status": m["status"],
                      "train_seconds": m["train_seconds"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
