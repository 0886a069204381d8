"""Benchmark of the CLI's start-up (not a test: prints ratios measured in one run).

Each command line runs as a fresh process, ``--repeat`` times, interleaved with the baseline
``python -c "import numpy"`` (the cheapest process that can do anything numerical); the
figure printed is the median wall time and its ratio to the baseline's median measured in the
same run. The target (issue 12) is a ratio of at most 2 for ``wpgd --help`` and
``wpgd <command> --help``.

Usage::

    python benchmarks/bench_startup.py               # 7 repetitions each
    python benchmarks/bench_startup.py --repeat 15
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = ["risk", "verify", "train", "experiment", "solve", "conditions", "check-derivation"]


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per command line (default 7)")
    args = ap.parse_args(argv)
    wpgd = shutil.which("wpgd")
    if wpgd is None:
        raise SystemExit("the wpgd command is not installed (pip install -e .)")
    baseline = [sys.executable, "-c", "import numpy"]
    lines = {"wpgd --help": [wpgd, "--help"]}
    lines.update({f"wpgd {c} --help": [wpgd, c, "--help"] for c in COMMANDS})
    times: dict[str, list[float]] = {"baseline": []}
    times.update({k: [] for k in lines})
    _wall(baseline)  # warm the file cache once
    for _ in range(args.repeat):
        for key, cmd in lines.items():
            times["baseline"].append(_wall(baseline))
            times[key].append(_wall(cmd))
    base = statistics.median(times["baseline"])
    print(f'baseline  python -c "import numpy": median {base * 1e3:.0f} ms over {len(times["baseline"])} runs')
    worst = 0.0
    for key in lines:
        med = statistics.median(times[key])
        worst = max(worst, med / base)
        print(f"{key:<32} median {med * 1e3:6.0f} ms   ratio {med / base:5.2f}")
    print(f"worst ratio {worst:.2f} (target ≤ 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
