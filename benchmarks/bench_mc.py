"""Benchmark of the Monte Carlo risk estimators (not a test: prints figures measured in one run).

At the optimum of ``examples/two_segments.toml`` (d = 10, n = 40, two segments) every estimator
of :func:`wpgd.numerics.monte_carlo_risk` runs on the same number of prompts (NumPy backend, float64).
Printed per estimator: wall time, the relative standard error reached, the relative standard
error projected to 10⁶ prompts (``relSE·√(N/10⁶)``, exact for i.i.d. prompts), the z-score
against the closed form, and the efficiency ratio against the plain estimator measured in the
same run, ``(time·variance)_plain / (time·variance)_estimator`` = how many times faster it
reaches a given standard error.

Usage::

    python benchmarks/bench_mc.py                  # 10⁶ prompts per estimator
    python benchmarks/bench_mc.py --samples 100000
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics import load_spec, monte_carlo_risk, solve  # noqa: E402
from wpgd.numerics.core.montecarlo import ESTIMATOR_NAMES  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000, help="prompts per estimator (default 10⁶)")
    ap.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    args = ap.parse_args(argv)
    spec = Path(__file__).resolve().parents[1] / "examples" / "two_segments.toml"
    pr = load_spec(spec)
    opt = solve(pr)
    print(f"two_segments.toml at the optimum: d = {pr.d}, n = {pr.n}, risk {opt.risk:.10g}, "
          f"{args.samples} prompts per estimator")
    rows = {}
    for name in reversed(ESTIMATOR_NAMES):  # plain first: the baseline
        t0 = time.perf_counter()
        mc = monte_carlo_risk(pr, opt.P, opt.omega, samples=args.samples, seed=args.seed, estimator=name)
        rows[name] = (time.perf_counter() - t0, mc)
    base_t, base = rows["plain"]
    print(f"{'estimator':12s} {'time':>8s} {'rel SE':>9s} {'rel SE @1e6':>11s} {'z':>7s} {'efficiency':>11s}")
    for name, (t, mc) in rows.items():
        eff = (base_t * base.stderr**2) / (t * mc.stderr**2) if mc.stderr > 0 else math.inf
        proj = mc.relative_stderr * math.sqrt(mc.samples / 1e6)
        print(f"{name:12s} {t:7.2f}s {100 * mc.relative_stderr:8.4f}% {100 * proj:10.4f}% "
              f"{mc.z_score(opt.risk):+7.2f} {eff:10.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
