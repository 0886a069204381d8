"""The training step with and without the allocator policy of ``wpgd.numerics.nn.host_memory``.

Each measurement is a fresh subprocess (the policy is process-wide) that builds the exact step of
a run (``bench_train._wpgd_step``: fresh prompts, forward, backward, clipping, AdamW), applies the
policy the way ``train`` does (``retain_freed_memory``, which honours ``WPGD_MALLOC``), takes two
warm-up steps and times ``--steps`` more: median seconds per step, minor page faults and system
seconds per step, and the process's peak resident memory. The two policies are measured
alternately, ``--rounds`` times each, so that other load on the machine affects both; the
figure of each is the median over rounds, and the ratio system/retain is printed.

Usage::

    python benchmarks/bench_malloc.py
    python benchmarks/bench_malloc.py --sizes vector:100:100 scalar:100:400 --steps 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = ["scalar:10:40", "vector:10:40", "vector:64:60", "scalar:100:100", "linear:100:100", "scalar:100:400",
         "vector:100:100"]

_CHILD = textwrap.dedent("""
    import json, resource, statistics, sys, time
    import torch
    sys.path.insert(0, {bench!r})
    torch.set_num_threads(1)
    from wpgd.numerics.nn.host_memory import retain_freed_memory
    import bench_train as bt
    status = retain_freed_memory()
    model, d, n, steps, batch = {model!r}, {d}, {n}, {steps}, {batch}
    step = bt._wpgd_step(bt._problem(d, n), model, batch, "cpu")
    step(); step()
    r0, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(steps):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({{"status": status, "s_step": statistics.median(times),
                      "faults_step": (r1.ru_minflt - r0.ru_minflt) / steps,
                      "sys_step": (r1.ru_stime - r0.ru_stime) / steps, "peak_rss_mib": r1.ru_maxrss / 1024}}))
""")


def measure(model: str, d: int, n: int, steps: int, batch: int, mode: str) -> dict:
    code = _CHILD.format(bench=str(ROOT / "benchmarks"), model=model, d=d, n=n, steps=steps, batch=batch)
    env = {**os.environ, "WPGD_MALLOC": mode, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=SIZES, metavar="MODEL:D:N",
                    help=f"model:d:n of each row (default: {' '.join(SIZES)})")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per process (default 8)")
    ap.add_argument("--rounds", type=int, default=2, help="processes per policy, alternated (default 2)")
    ap.add_argument("--batch-size", type=int, default=256, help="prompts per step (default 256)")
    ap.add_argument("--json", metavar="FILE", default=None, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        ap.error("--steps and --rounds must be ≥ 1")
    rows = []
    print(f"one thread, batch {args.batch_size}, median of {args.steps} steps, {args.rounds} processes per policy")
    print(f"{'model':7} {'d':>4} {'n':>5} | {'retain s/step':>13} {'faults':>8} {'sys s':>6} {'RSS MiB':>8} | "
          f"{'system s/step':>13} {'faults':>8} {'sys s':>6} {'RSS MiB':>8} | {'ratio':>5}")
    for size in args.sizes:
        try:
            model, d, n = size.split(":")
            d, n = int(d), int(n)
        except ValueError:
            ap.error(f"--sizes entries are MODEL:D:N, got {size!r}")
        runs = {"retain": [], "system": []}
        for _ in range(args.rounds):
            for mode in runs:
                runs[mode].append(measure(model, d, n, args.steps, args.batch_size, mode))
        agg = {mode: {k: statistics.median(r[k] for r in rs) for k in ("s_step", "faults_step", "sys_step",
                                                                       "peak_rss_mib")}
               for mode, rs in runs.items()}
        status = runs["retain"][0]["status"]
        ratio = agg["system"]["s_step"] / agg["retain"]["s_step"]
        rows.append({"model": model, "d": d, "n": n, "retain_status": status, **{
            f"{mode}_{k}": v for mode, a in agg.items() for k, v in a.items()}, "ratio": ratio})
        a, b = agg["retain"], agg["system"]
        print(f"{model:7} {d:4d} {n:5d} | {a['s_step']:13.4f} {a['faults_step']:8.0f} {a['sys_step']:6.3f} "
              f"{a['peak_rss_mib']:8.0f} | {b['s_step']:13.4f} {b['faults_step']:8.0f} {b['sys_step']:6.3f} "
              f"{b['peak_rss_mib']:8.0f} | {ratio:5.2f}" + ("" if status == "retained" else f"  ({status})"),
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
