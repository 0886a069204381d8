"""Throughput of wpgd's training step against a plain-PyTorch reimplementation (same run, same device).

wpgd side: the step that ``wpgd.numerics.nn.training.train`` runs (``train_loop.forward_backward`` then ``update``:
fresh prompts from ``PromptSampler``, ``GLAModel.predict`` through the sampler's label scale,
squared-error loss / null risk, backward, gradient clipping, AdamW step, lr schedule step).

Plain side, written inline below: the same prompt distribution (features through the Σ factor,
segment tasks through the task factor, labels, token layout with the delimiter flag), the same
one-layer gated linear attention evaluated at the query only (q from the query token, keys,
values, log-sigmoid gates, reversed cumulative sums of log-gates, decayed scores: one decay per
token for scalar gating, one per key channel multiplying the keys for vector gating), the same
loss, clipping, AdamW and LambdaLR — with no wpgd code in the step. The key width is the one the
trainer builds (the token width; 4d for vector gating, ``key_width_factor`` 2 times the
construction's 2d), checked against wpgd's model before timing.

Both sides use float32, batch 256 and one torch thread by default, and the allocator policy that
``train`` applies (``wpgd.numerics.nn.host_memory``; ``WPGD_MALLOC=system`` measures without it). The figure is the median
seconds per step over ``--steps`` timed steps after warm-up, measured alternately (wpgd, plain,
wpgd, ...) so that load from other processes affects both; the ratio wpgd/plain is printed (goal
≤ 1.2). A third column, "lean", is the plain step with the arithmetic of wpgd's query-only kernel
(``GLALayer.label_last``: only the label channel of the values; without a vector gate the key
projection folded into the query, with one the prompt read newest first): wpgd/lean is the training loop's overhead over the same
arithmetic, and wpgd/plain also contains what the kernel saves over the model as written. A fourth,
"before", is the lean step with the kernel as it was before its last speedup: every key formed
(linear and scalar rows: before the key projection was folded into the query; this column was
called "keys" then) or, for vector gating, decays by reversed cumulative sums of the log-gates
(before the prompt was read newest first): before/lean is what that speedup saves.

On a GPU every step of these sizes takes 2–5 ms (one H200:
``docs/training_grid/results/gpu_h200/bench_train_cuda.json``): the device waits for the host to
issue the step's work, so the ratio there is the ratio of the per-step work on the host, not of
arithmetic. ``--overhead`` measures that on any machine: d = 3, n = 8, batch 4 on the CPU, where the
arithmetic is negligible.

Usage::

    python benchmarks/bench_train.py                 # CPU, and CUDA when present
    python benchmarks/bench_train.py --overhead      # the per-step host work (what a GPU step waits on)
    python benchmarks/bench_train.py --quick         # fewer steps, small sizes only
    python benchmarks/bench_train.py --json out.json
    python benchmarks/bench_train.py --models vector --max-d 64
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.core.montecarlo import task_factor  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.safety import psd_factor  # noqa: E402
from wpgd.numerics.nn import (
    train_loop as tl,  # noqa: E402
    training as tr,  # noqa: E402
)
from wpgd.numerics.nn.host_memory import retain_freed_memory  # noqa: E402
from wpgd.numerics.nn.train_config import TrainConfig  # noqa: E402

SIZES = [  # (model, d, n)
    ("scalar", 10, 40),
    ("linear", 10, 40),
    ("scalar", 20, 80),
    ("linear", 100, 100),
    ("scalar", 100, 100),
    ("scalar", 100, 400),
    ("linear", 100, 1000),
    ("scalar", 100, 1000),
    ("vector", 10, 40),
    ("vector", 20, 80),
    ("vector", 64, 60),
    ("vector", 100, 100),
]


def _problem(d: int, n: int) -> Problem:
    return Problem.segmented(np.eye(d), [n // 2, n - n // 2], [0.2, 0.8])


def _wpgd_step(problem: Problem, model: str, batch: int, device: str):
    """The training step of ``wpgd.numerics.nn.training`` on a fresh run (returns a no-argument callable)."""
    cfg = TrainConfig.for_model(model, batch_size=batch, steps=10**6, restarts=0, progress=False,
                                device=device, threads=None).resolved(problem)
    sampler = tr.PromptSampler(problem, cfg.prompt_format_for(problem), dtype=cfg.torch_dtype, device=device)
    key_dim = tr.default_key_dim(cfg, problem, sampler.token_dim)
    model_ = tr.build_model(cfg, sampler.token_dim, key_dim)
    run = tl.RunState(model_, *tl.make_optimiser(cfg, model_), gen=tr.make_generator(cfg.data_seed, device))
    nr = problem.null_risk

    def step():
        tl.forward_backward(run, cfg, sampler, None, nr)
        tl.update(run)
        run.step += 1

    step.key_dim = key_dim
    return step


def _plain_step(problem: Problem, model: str, batch: int, device: str, label_row_only: bool = False,
                before: bool = False):
    """The same model, data and loss in plain PyTorch (returns a no-argument callable).

    ``label_row_only`` ("lean"): the arithmetic of ``GLALayer.label_last``: only the label channel
    of the values (the one ``predict`` reads); without a vector gate the tokens are scored against
    ``W_kᵀ q`` instead of forming every key; with one, the prompt is read newest first (the
    log-gates of tokens T…2 summed cumulatively pair with tokens T−1…1, token T scored on its own).
    The plain side without it is the model as written (every key, every value channel, decays by
    reversed cumulative sums): the same function with more work. ``before`` ("before", with
    ``label_row_only``): the label channel with the kernel as it was before its last speedup —
    every key formed (linear, scalar: before the fold), or decays by reversed cumulative sums
    (vector: before the newest-first order)."""
    cfg = TrainConfig.for_model(model, batch_size=batch, steps=10**6).resolved(problem)
    d, n = problem.d, problem.n
    gated = model != "linear"
    vector = model == "vector"
    flag = 1 if gated else 0  # gated models get a delimiter channel (one boundary: one code)
    D = d + flag + 1
    T = n + (1 if gated else 0) + 1
    K = 4 * d if vector else D  # vector: two signed groups of 2d channels; otherwise the token width
    G = K if vector else 1  # log-decays per token: one per key channel (vector) or one (scalar)
    dt = torch.float32
    f_sigma = torch.as_tensor(psd_factor(problem.sigma).T, dtype=dt, device=device)
    f_task_np, idx_np = task_factor(problem)
    f_task = torch.as_tensor(f_task_np, dtype=dt, device=device)
    task_idx = torch.as_tensor(idx_np, dtype=torch.long, device=device)
    seg = np.array(problem.segment_index)
    pos = torch.as_tensor(np.arange(n) + (seg if gated else 0), dtype=torch.long, device=device)
    delim = int(problem.segment_sizes[0]) if gated else None
    scale = 1.0 / math.sqrt(problem.null_risk)
    gen = torch.Generator(device=device)
    gen.manual_seed(1)
    torch.manual_seed(0)
    W_q = torch.nn.Parameter(torch.randn(K, D, device=device) / math.sqrt(D))
    W_k = torch.nn.Parameter(torch.randn(K, D, device=device) / math.sqrt(D))
    W_v = torch.nn.Parameter(0.1 * torch.randn(D, D, device=device) / D)
    params = [W_q, W_k, W_v]
    if gated:
        W_g = torch.nn.Parameter(torch.randn(G, D, device=device) / math.sqrt(D))
        b_g = torch.nn.Parameter(torch.full((G,), 6.0, device=device))
        params += [W_g, b_g]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = int(round(cfg.warmup * cfg.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (cfg.steps - warm))))
    nr = problem.null_risk

    def step():
        kw = dict(generator=gen, dtype=dt, device=device)
        feats = torch.randn((batch, n + 1, d), **kw) @ f_sigma
        g = torch.randn((batch, f_task.shape[1], d), **kw)
        tasks = torch.einsum("ab,sbd->sad", f_task, g)[:, task_idx, :]
        labels = (feats * tasks).sum(-1)
        z = torch.zeros((batch, T, D), dtype=dt, device=device)
        z[:, pos, :d] = feats[:, :n]
        z[:, pos, -1] = labels[:, :n] * scale
        if gated:
            z[:, delim, d] = 1.0
        z[:, -1, :d] = feats[:, n]
        q = z[:, -1] @ W_q.T  # [B, K]
        fold_keys = label_row_only and not before and not vector  # (W_k z_s)·q = z_s·(W_kᵀ q)
        k = z if fold_keys else z @ W_k.T  # [B, T, D] or [B, T, K]
        if fold_keys:
            q = q @ W_k  # [B, D]
        newest_first = vector and label_row_only and not before
        if not newest_first:
            v_last = z @ W_v[-1] if label_row_only else (z @ W_v.T)[..., -1]  # [B, T]: the label channel
        if newest_first:  # no reversal of B·T·K tensors
            newest = z.flip(1)
            lg = torch.nn.functional.logsigmoid(newest[:, :-1] @ W_g.T + b_g)  # gates of tokens T…2
            kd = (newest[:, 1:] @ W_k.T) * torch.exp(torch.cumsum(lg, 1))  # decayed keys of T−1…1
            out = ((kd @ q.unsqueeze(-1))[..., 0] * (newest[:, 1:] @ W_v[-1])).sum(1) + (
                (z[:, -1] @ W_k.T) * q).sum(-1) * (z[:, -1] @ W_v[-1])
            pred = -(z[:, -1, -1] + out) / scale
        elif gated:
            lg = torch.nn.functional.logsigmoid(z @ W_g.T + b_g)  # [B, T, G]
            tail = torch.flip(torch.cumsum(torch.flip(lg[:, 1:], (1,)), 1), (1,))
            decay = torch.exp(torch.cat([tail, torch.zeros_like(lg[:, :1])], 1))  # [B, T, G]
            scores = ((k * decay) @ q.unsqueeze(-1)) if vector else (k @ q.unsqueeze(-1)) * decay
            pred = -(z[:, -1, -1] + (scores[..., 0] * v_last).sum(1)) / scale
        else:
            scores = k @ q.unsqueeze(-1)  # [B, T, 1]
            pred = -(z[:, -1, -1] + (scores[..., 0] * v_last).sum(1)) / scale
        loss = ((pred - labels[:, n]) ** 2).mean() / nr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        value = float(loss.detach())
        opt.step()
        sched.step()
        return value  # the variants of one size compute the same loss (checked in main before timing)

    step.key_dim = K
    return step


def _measure(steps: dict, n_steps: int, device: str) -> dict:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = {k: [] for k in steps}
    for fn in steps.values():
        for _ in range(3):
            fn()
    sync()
    for _ in range(n_steps):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 timed steps, d ≤ 20 only")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps per size and side (default 15; 200 with --overhead)")
    ap.add_argument("--batch-size", type=int, default=256, help="prompts per step (default 256)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--device", default="all", choices=["all", "cpu", "cuda"], help="default: cpu, and cuda if present")
    ap.add_argument("--models", nargs="+", default=None, choices=sorted({m for m, _, _ in SIZES}),
                    help="only these model families' rows (default: all)")
    ap.add_argument("--max-d", type=int, default=None, help="only rows with d ≤ this (default: all)")
    ap.add_argument("--overhead", action="store_true",
                    help="d = 3, n = 8, batch 4 (overrides --batch-size), 200 timed steps unless --steps is "
                         "given: the arithmetic is negligible, so the ratio is the per-step work on the host")
    ap.add_argument("--json", metavar="FILE", default=None, help="also write the table as JSON")
    args = ap.parse_args(argv)
    if args.overhead:
        args.batch_size = 4
    if args.steps is None:
        args.steps = 200 if args.overhead else 15
    torch.set_num_threads(args.threads)
    allocator = retain_freed_memory()  # as train() does; process-wide, so both sides run with it
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    if args.device == "cuda" and not devices:
        print("CUDA is not available: nothing measured")
        return 1
    max_d = 20 if args.quick else args.max_d
    table = [(m, 3, 8) for m in ("linear", "scalar", "vector")] if args.overhead else SIZES
    sizes = [s for s in table if (max_d is None or s[1] <= max_d) and (args.models is None or s[0] in args.models)]
    n_steps = 5 if args.quick else args.steps
    rows = []
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, median of {n_steps} steps, "
          f"allocator policy {allocator} (WPGD_MALLOC; benchmarks/bench_malloc.py)")
    print(f"{'device':6} {'model':7} {'d':>4} {'n':>5} {'wpgd s/step':>12} {'plain s/step':>13} {'ratio':>6} "
          f"{'lean s/step':>12} {'ratio lean':>11} {'before s/step':>13} {'before/lean':>12}")
    for device in devices:
        for model, d, n in sizes:
            pr = _problem(d, n)
            sides = {"wpgd": _wpgd_step(pr, model, args.batch_size, device),
                     "plain": _plain_step(pr, model, args.batch_size, device),
                     "lean": _plain_step(pr, model, args.batch_size, device, label_row_only=True)}
            # the label channel with the kernel before its last speedup (the fold; vector: newest first)
            sides["before"] = _plain_step(pr, model, args.batch_size, device, label_row_only=True, before=True)
            losses = {k: sides[k]() for k in ("plain", "lean", "before")}  # same init, same first prompts
            if max(abs(v / losses["plain"] - 1) for v in losses.values()) > 1e-4:
                raise SystemExit(f"{model} d={d}: the plain variants compute different losses {losses}")
            if sides["wpgd"].key_dim != sides["plain"].key_dim:
                raise SystemExit(f"{model} d={d}: wpgd builds key width {sides['wpgd'].key_dim}, "
                                 f"the plain step {sides['plain'].key_dim}: the two would time different models")
            t = _measure(sides, n_steps, device)
            ratio = t["wpgd"] / t["plain"]
            rows.append({"device": device, "model": model, "d": d, "n": n, "wpgd_s": t["wpgd"],
                         "plain_s": t["plain"], "ratio": ratio, "lean_s": t["lean"],
                         "ratio_lean": t["wpgd"] / t["lean"], "before_s": t["before"],
                         "before_over_lean": t["before"] / t["lean"]})
            print(f"{device:6} {model:7} {d:4d} {n:5d} {t['wpgd']:12.4f} {t['plain']:13.4f} {ratio:6.2f} "
                  f"{t['lean']:12.4f} {t['wpgd'] / t['lean']:11.2f} {t['before']:13.4f} {t['before'] / t['lean']:12.2f}",
                  flush=True)
    if "cuda" not in devices:
        print("CUDA: not available on this machine (not measured)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
