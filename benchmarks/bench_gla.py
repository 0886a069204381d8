"""Benchmarks of the GLA kernels used in training (not tests: prints figures measured in one run).

Every figure is a forward + backward pass of ``GLAModel.predict`` on one CPU thread, float32,
batch 256, d = 10 features (token width 13), T = 83 tokens (n = 80 demonstrations, one
delimiter, the query): the largest prompt of the default Figure-1 experiment.

1. One layer: ``predict`` (last layer at the query only, ``last_query_gla``) against
   ``-forward(tokens)[:, -1, -1]`` with each full-sequence kernel, the baseline of the same run.
2. Two vector-gated layers: the kernel of the lower layer (chunked with several chunk sizes,
   recurrent, masked parallel); ratios are against the recurrent form.

Usage::

    python benchmarks/bench_gla.py            # about a minute
    python benchmarks/bench_gla.py --quick    # fewer repeats, batch 64
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wpgd.numerics.nn.gla as gla  # noqa: E402


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _step(model, z, full: bool):
    def run():
        model.zero_grad()
        out = -model(z)[:, -1, -1] if full else model.predict(z)
        out.pow(2).mean().backward()

    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, batch 64")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    batch, repeats = (64, 2) if args.quick else (256, 5)
    d_tok, t_len = 13, 83
    z = torch.randn(batch, t_len, d_tok)
    print(f"GLA kernels: batch {batch}, T = {t_len}, token width {d_tok}, one thread, best of {repeats}")

    print("\n1. one layer: query-only predict vs the full sequence (forward + backward, ms)")
    print(f"{'gating':<8} {'key width':>9} {'full kernel':<12} {'full':>9} {'query-only':>11} {'speed-up':>9}")
    for gating, key in (("none", 13), ("scalar", 13), ("vector", 20), ("vector", 48)):
        kernels = ("parallel",) if gating != "vector" else ("chunked", "recurrent")
        for mode in kernels:
            m = gla.GLAModel(d_tok, key, 1, gating, mode=mode)
            full = _time(_step(m, z, True), repeats)
            fast = _time(_step(m, z, False), repeats)
            print(f"{gating:<8} {key:>9} {mode:<12} {1e3 * full:>9.1f} {1e3 * fast:>11.1f} {full / fast:>8.1f}×")

    print("\n2. two vector layers: kernel of the lower layer (forward + backward, ms; ratio to recurrent)")
    print(f"{'key width':>9} {'kernel':<12} {'ms':>9} {'ratio':>7}")
    original = gla.chunked_gla
    try:
        for key in (20, 48):
            m = gla.GLAModel(d_tok, key, 2, "vector", mode="recurrent")
            base = _time(_step(m, z, False), repeats)
            print(f"{key:>9} {'recurrent':<12} {1e3 * base:>9.1f} {1.0:>6.2f}×")
            for chunk in (2, 4, 8, 16):
                gla.chunked_gla = functools.partial(original, chunk=chunk)
                m.mode = "chunked"
                t = _time(_step(m, z, False), repeats)
                print(f"{key:>9} {'chunked/' + str(chunk):<12} {1e3 * t:>9.1f} {t / base:>6.2f}×")
            gla.chunked_gla = original
            if key <= 20:
                m.mode = "parallel"
                t = _time(_step(m, z, False), max(1, repeats // 2))
                print(f"{key:>9} {'parallel':<12} {1e3 * t:>9.1f} {t / base:>6.2f}×")
    finally:
        gla.chunked_gla = original
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
