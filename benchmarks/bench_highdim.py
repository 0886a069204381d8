"""Seconds per training step and peak memory of the high-dimensional experiment (d = 100), per n.

For each n of ``wpgd experiment highdim`` and each model family, a fresh subprocess builds the
run exactly as the experiment does (``wpgd.numerics.experiments.highdim.train_config_for``,
resolved against the experiment's problem: family defaults, step budget, evaluation batch) and times a few steps of the training loop's step
(``wpgd.numerics.nn.train_loop.forward_backward`` + ``update``), then one evaluation forward pass of
``eval_batch_for`` prompts. Peak memory is the subprocess's maximum resident set size
(``resource.getrusage``), reported beside the resident size after imports and setup, so the
difference is what the step and the evaluation batch cost. A few steps suffice: the step time does
not change during training. This is a measurement, not the experiment: the full grid is not run.

Usage::

    python benchmarks/bench_highdim.py                  # CPU, n = 100 200 400 1000, 3 timed steps
    python benchmarks/bench_highdim.py --n 100 --steps 2 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _one(model: str, n: int, d: int, steps: int, device: str, threads: int) -> dict:
    import torch

    from wpgd.numerics.experiments.highdim import HIGHDIM_PANEL, HighdimConfig, train_config_for
    from wpgd.numerics.nn import train_loop as tl, training as tr
    from wpgd.numerics.nn.evaluation import HeldOutSet
    from wpgd.numerics.nn.host_memory import retain_freed_memory

    torch.set_num_threads(threads)
    if device != "cuda":
        retain_freed_memory()  # as train() does (WPGD_MALLOC=system measures without it)
    problem = HIGHDIM_PANEL.problem(n, d)
    # the experiment's own run config (one place: a drift here once broke this benchmark)
    cfg = train_config_for(HighdimConfig(d=d, n_values=(n,), models=(model,), device=device), model, n).resolved(problem)
    sampler = tr.PromptSampler(problem, cfg.prompt_format_for(problem), dtype=cfg.torch_dtype, device=device)
    key_dim = tr.default_key_dim(cfg, problem, sampler.token_dim)
    m = tr.build_model(cfg, sampler.token_dim, key_dim)
    run = tl.RunState(m, *tl.make_optimiser(cfg, m), gen=tr.make_generator(cfg.data_seed, device))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    base = _rss_mib()
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        tl.forward_backward(run, cfg, sampler, None, problem.null_risk)
        tl.update(run)
        sync()
        if i:
            times.append(time.perf_counter() - t0)
    after_train = _rss_mib()
    held = HeldOutSet(sampler, cfg.eval_batch, 99, batch_size=cfg.eval_batch, cache=False)
    t0 = time.perf_counter()
    with torch.no_grad():
        for batch in held.batches():
            sampler.predict(m, batch.tokens)
    sync()
    eval_s = time.perf_counter() - t0
    out = {"model": model, "n": n, "d": d, "device": device, "threads": threads, "batch_size": cfg.batch_size,
           "steps_timed": steps, "s_per_step": statistics.median(times), "default_steps": cfg.steps,
           "eval_batch": cfg.eval_batch, "eval_batch_s": eval_s, "rss_setup_mib": base,
           "peak_rss_train_mib": after_train, "peak_rss_mib": _rss_mib()}
    if device == "cuda":
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100, 200, 400, 1000], help="n values (default 100 200 400 1000)")
    ap.add_argument("--models", nargs="+", default=["linear", "scalar"], help="model families (default linear scalar)")
    ap.add_argument("--d", type=int, default=100, help="feature dimension (default 100)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step (default 3)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="default cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the experiment's workers)")
    ap.add_argument("--json", metavar="FILE", default=None, help="also write the rows as JSON")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one[0], int(args.one[1]), args.d, args.steps, args.device, args.threads)))
        return 0
    rows = []
    print(f"{'model':7} {'n':>5} {'s/step':>8} {'default steps':>13} {'est. train h':>12} {'eval batch':>10} "
          f"{'RSS setup MiB':>13} {'peak RSS MiB':>12}")
    for n in args.n:
        for model in args.models:
            cmd = [sys.executable, __file__, "--one", model, str(n), "--d", str(args.d), "--steps", str(args.steps),
                   "--device", args.device, "--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if res.returncode:
                print(f"{model:7} {n:5d} failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append(r)
            print(f"{model:7} {n:5d} {r['s_per_step']:8.3f} {r['default_steps']:13d} "
                  f"{r['s_per_step'] * r['default_steps'] / 3600:12.2f} {r['eval_batch']:10d} "
                  f"{r['rss_setup_mib']:13.0f} {r['peak_rss_mib']:12.0f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
