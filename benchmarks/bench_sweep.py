"""Throughput of the sweep engine on a theory grid: serial vs worker processes, and the engine's overhead.

One run measures, on the same grid of ``--tasks`` theory tasks (default about 10^4: 58 noise levels ×
58 prompt lengths × 3 weight classes, d = 4):

1. the bare solve time: ``wpgd.numerics.experiments.sweep_tasks.execute`` called in a loop (no engine, no files);
2. the engine serially (``workers = 1``: in this process, one record file per task);
3. the engine on ``--workers`` processes (a Dask LocalCluster when Dask is installed, including
   its start-up; else the standard-library pool);
4. a rerun of 2 (every task cached).

It prints tasks per second, the parallel/serial ratio, and the engine's overhead per task
(engine serial time minus bare solve time, per task) against the mean solve time, in wall time
and in this process's CPU time (which a busy machine disturbs less), and the load average. Building and
validating the grid's tasks is reported separately. Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_sweep.py [--tasks 10000] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.experiments.sweep import run_tasks  # noqa: E402
from wpgd.numerics.experiments.sweep_grid import load_grid  # noqa: E402
from wpgd.numerics.experiments.sweep_run import auto_batch  # noqa: E402
from wpgd.numerics.experiments.sweep_tasks import execute, grid_tasks  # noqa: E402

BASE = """[features]
dim = 4
covariance = {toeplitz = 0.3}
[tasks]
segments = [10, 10]
query_correlation = [0.3, 0.9]
[noise]
variance = 0.1
"""
CLASSES = ["linear", "scalar", "unconstrained"]  # "geometric" (a 1-D search, ~0.1 s) would dominate


def _grid(folder: Path, tasks: int) -> Path:
    per_axis = max(1, int(round((tasks / len(CLASSES)) ** 0.5)))
    noise = [round(0.02 * i, 4) for i in range(per_axis)]
    segs = [[k, k] for k in range(2, 2 + per_axis)]
    (folder / "base.toml").write_text(BASE)
    path = folder / "grid.toml"
    path.write_text(
        f'[sweep]\nkind = "theory"\nspec = "base.toml"\nclasses = {json.dumps(CLASSES)}\n[axes]\n'
        f'"tasks.segments" = {json.dumps(segs)}\n"noise.variance" = {json.dumps(noise)}\n'
    )
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000, help="approximate number of tasks (default 10000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run (default 2)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        grid = load_grid(_grid(tmp, args.tasks))
        t0 = time.perf_counter()
        labelled = grid_tasks(grid, tmp / "serial")
        build = time.perf_counter() - t0
        tasks = [t for _, t in labelled]
        n = len(tasks)
        for t in tasks[:: max(1, n // 30)]:
            execute(t.config, None)  # warm-up: lazy imports and first-call costs out of the timings
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        for t in tasks:
            execute(t.config, None)
        bare, bare_cpu = time.perf_counter() - t0, time.process_time() - c0
        c0 = time.process_time()
        serial = run_tasks(tasks, execute, workers=1, progress=False)
        serial_cpu = time.process_time() - c0
        rerun = run_tasks(tasks, execute, workers=1, progress=False)
        par_tasks = [t for _, t in grid_tasks(grid, tmp / "parallel")]
        par = run_tasks(
            par_tasks,
            execute,
            workers=args.workers,
            progress=False,
            inprocess_below=0,
            batch_size=auto_batch("theory", n, args.workers),
        )
        load1 = os.getloadavg()[0]
        same = all(par.results[a.key] == serial.results[b.key] for a, b in zip(par_tasks, tasks))
    out = {
        "tasks": n,
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "parallel_backend": par.backend,
        "build_and_validate_s": build,
        "bare_solve_s": bare,
        "solve_ms_per_task": 1e3 * bare / n,
        "serial_s": serial.seconds,
        "serial_tasks_per_s": n / serial.seconds,
        "parallel_s": par.seconds,
        "parallel_tasks_per_s": n / par.seconds,
        "parallel_over_serial": serial.seconds / par.seconds,
        "engine_overhead_ms_per_task": 1e3 * (serial.seconds - bare) / n,
        "overhead_over_solve": (serial.seconds - bare) / bare,
        "bare_solve_cpu_s": bare_cpu,
        "serial_cpu_s": serial_cpu,
        "engine_overhead_cpu_ms_per_task": 1e3 * (serial_cpu - bare_cpu) / n,
        "overhead_cpu_over_solve_cpu": (serial_cpu - bare_cpu) / bare_cpu,
        "load_average_start_end": [load0, load1],
        "rerun_all_cached_s": rerun.seconds,
        "parallel_equals_serial": same,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"theory sweep, {n} tasks (d = 4; classes {', '.join(CLASSES)}); {os.cpu_count()} CPU(s)")
    print(f"build + validate tasks   {build:8.2f} s")
    print(f"bare solves (no engine)  {bare:8.2f} s   {1e3 * bare / n:.3f} ms/task")
    print(f"engine, serial           {serial.seconds:8.2f} s   {n / serial.seconds:8.1f} tasks/s")
    print(
        f"engine, {args.workers} workers ({par.backend}) {par.seconds:6.2f} s   "
        f"{n / par.seconds:8.1f} tasks/s   "
        f"ratio {serial.seconds / par.seconds:.2f}x vs serial (incl. start-up)"
    )
    print(
        f"engine overhead          {out['engine_overhead_ms_per_task']:.3f} ms/task = "
        f"{out['overhead_over_solve']:.1%} of the solve time"
    )
    print(
        f"engine overhead (CPU)    {out['engine_overhead_cpu_ms_per_task']:.3f} ms/task = "
        f"{out['overhead_cpu_over_solve_cpu']:.1%} of the solve's CPU time ({1e3 * bare_cpu / n:.3f} ms/task)"
    )
    print(f"load average             {load0:.1f} at start, {load1:.1f} at end (wall times depend on it)")
    print(f"rerun (all cached)       {rerun.seconds:8.2f} s")
    print(f"parallel results identical to serial: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
