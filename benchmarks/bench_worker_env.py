"""Training runs on a local Dask cluster, with and without Dask's ``MALLOC_TRIM_THRESHOLD_``.

Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which switches off glibc's
dynamic mmap threshold; the local cluster of ``wpgd sweep`` / ``wpgd experiment`` leaves it out
(``wpgd.numerics.experiments.sweep.local_cluster``, ``NANNY_ENVIRON_UNSET``; docs/sweeps.md,
"Worker memory settings"). This benchmark trains the same ``--workers`` runs (Figure 1's
reversed panel, vector gating, n = 20, 40, …, ``--steps`` steps each) on a fresh 2-worker
cluster twice in one run: as wpgd starts it, and with Dask's setting put back (the baseline).
It prints each run's training seconds (from its ``metrics.json``), the wall time of each
cluster (start-up included) and the ratios baseline / wpgd. Usage::

    python benchmarks/bench_worker_env.py [--steps 1000] [--workers 2] [--json FILE]
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

from wpgd.numerics.experiments import sweep  # noqa: E402
from wpgd.numerics.experiments.experiments import PANELS, _job, _run_jobs  # noqa: E402
from wpgd.numerics.nn.training import TrainConfig  # noqa: E402


def _train(folder: Path, steps: int, workers: int) -> tuple[float, list[float]]:
    cfg = TrainConfig.for_model("vector", steps=steps, final_prompts=20000, progress=False)
    ns = [20 * (i + 1) for i in range(workers)]
    jobs = [_job(PANELS["d"], n, 10, cfg, folder / f"n{n}") for n in ns]
    t0 = time.perf_counter()
    metrics = _run_jobs(jobs, workers, False, "bench_worker_env")  # ≥ 2 runs, ≥ 2 workers: the Dask cluster
    return time.perf_counter() - t0, [m["train_seconds"] for m in metrics]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="training steps per run (default 1000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes = runs, at least 2 (default 2)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.workers < 2:
        print("bench_worker_env: --workers must be at least 2 (one worker trains in this process)", file=sys.stderr)
        return 2
    if not sweep.dask_available():
        print("bench_worker_env: needs Dask (pip install 'gating-is-weighting[distributed]')", file=sys.stderr)
        return 2
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # the workers would inherit this process's
    unset = sweep.NANNY_ENVIRON_UNSET
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in (("wpgd", unset), ("dask default", ())):
            sweep.NANNY_ENVIRON_UNSET = env
            rows[name] = _train(Path(tmp) / name.replace(" ", "_"), args.steps, args.workers)
    sweep.NANNY_ENVIRON_UNSET = unset
    print(f"{args.workers} vector runs (Figure 1 panel d, d = 10), {args.steps} steps each, "
          f"{args.workers} Dask workers; load average {os.getloadavg()[0]:.1f}")
    print(f"{'workers started':16} {'wall s':>7}  training s per run")
    for name, (wall, secs) in rows.items():
        print(f"{name:16} {wall:7.1f}  " + ", ".join(f"{s:.1f}" for s in secs))
    (bw, bs), (ww, ws) = rows["dask default"], rows["wpgd"]
    print(f"ratio dask default / wpgd: wall {bw / ww:.2f}, runs " + ", ".join(f"{b / w:.2f}" for b, w in zip(bs, ws)))
    if args.json:
        Path(args.json).write_text(json.dumps({k: {"wall_s": w, "train_s": s} for k, (w, s) in rows.items()},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
