"""Vector gating's query-only step: ``GLALayer.vector_last`` (the prompt read newest first) against the
general kernel ``gla.last_query_gla`` on the same layer (every key formed, decays by reversed
cumulative sums of the log-gates: the trainer's vector path before this change), forward + backward
of the label channel with the parameter gradients, same run, alternated.

Sizes are (d, n): a one-layer vector GLA of key width 4d (the trainer's), token width d + 2 (features,
one delimiter code, the label), T = n + 2 tokens, batch 256, float32, one thread. The last column is
the relative difference of the two sides' parameter gradients in float64 (the same function: it
reads rounding only).

Usage::

    python benchmarks/bench_vector_last.py                # the sizes below
    python benchmarks/bench_vector_last.py --sizes 16:1000 100:100 --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.nn.gla import GLAModel, last_query_gla, relative_rms  # noqa: E402

SIZES = ["2:1000", "10:40", "16:1000", "32:100", "64:60", "100:100"]


def newest_first(model, z):
    """The trainer's path: ``predict`` → ``label_last`` → ``vector_last``."""
    return model.layers[0].label_last(z)


def general_kernel(model, z):
    """The same label channel through ``last_query_gla`` with every key formed."""
    layer = model.layers[0]
    q, k = layer.query_and_keys_last(z)
    v = torch.einsum("hd,btd->bth", layer.W_v[:, -1, :], z).unsqueeze(-1)
    out = last_query_gla(q, k, v, layer.log_gates(z)).sum(dim=1)[:, 0]
    return z[:, -1, -1] + out * layer.output_scale(z.shape[1])


def _grads(model, fn, z):
    model.zero_grad()
    fn(model, z).square().mean().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=SIZES, metavar="D:N", help=f"default {' '.join(SIZES)}")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per side (default 7; median)")
    ap.add_argument("--batch-size", type=int, default=256, help="prompts (default 256)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print("| d | n | K | newest first s | general kernel s | general/newest | grad rel. difference (float64) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        d, n = (int(x) for x in size.split(":"))
        token, key = d + 2, 4 * d
        torch.manual_seed(0)
        model = GLAModel(token, key, num_layers=1, gating="vector", aggregation="mean")
        z = torch.randn(args.batch_size, n + 2, token)
        times = {newest_first: [], general_kernel: []}
        for fn in times:
            _grads(model, fn, z)  # warm-up
        for _ in range(args.reps):
            for fn, acc in times.items():
                t0 = time.perf_counter()
                _grads(model, fn, z)
                acc.append(time.perf_counter() - t0)
        new, old = (statistics.median(times[f]) for f in (newest_first, general_kernel))
        model64 = model.double()
        z64 = z[: min(32, args.batch_size)].double()
        diff = relative_rms(_grads(model64, newest_first, z64), _grads(model64, general_kernel, z64))
        print(f"| {d} | {n} | {key} | {new:.4f} | {old:.4f} | {old / new:.2f} | {diff:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
