"""Benchmarks of ``wpgd.numerics.core.solver.solve`` (not tests: prints figures measured in one run).

1. Dense path vs the two eigen-decompositions it needs (eigh of Σ and of M2^{-1/2} M1 M2^{-1/2}),
   d = 100, n = 1000. Target: solve ≤ 1.5 × eigendecompositions.
2. Solve vs scipy L-BFGS-B on the closed-form risk (analytic gradient): time and final risk gap.
3. Structured segment path at n = 10³ … 10⁷ (K = 4, d = 50): time and peak traced memory.

Usage::

    python benchmarks/bench_solve.py            # everything (about a minute on 2 cores)
    python benchmarks/bench_solve.py --quick    # smaller sizes
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.core.descent import risk_and_grad  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.solver import solve  # noqa: E402


def dense_problem(d: int, n: int, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    sig = a @ a.T / d + 0.1 * np.eye(d)
    g = rng.standard_normal((n + 1, 8))
    h = rng.standard_normal((n + 1, n + 1)) / np.sqrt(n)
    rbar = g @ g.T + 0.1 * h @ h.T
    var = rng.uniform(0.5, 2.0, n + 1)
    dia = np.sqrt(np.diag(rbar))
    rbar = rbar / np.outer(dia, dia) * np.sqrt(np.outer(var, var))
    return Problem.dense(sig, 0.5 * (rbar + rbar.T), noise=0.2)


def best_of(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def bench_dense(d: int, n: int, reps: int) -> None:
    base = dense_problem(d, n)
    rbar = base.task_matrix

    def fresh():  # a new Problem each time: no cached eigen-decomposition
        return Problem(sigma=base.sigma, noise=base.noise, query_variance=base.query_variance, task_matrix=rbar)

    m1 = base.m1_matrix()
    w = 1 / np.sqrt(base.m2_diag)
    a = (w[:, None] * m1) * w[None, :]

    def eigs():
        np.linalg.eigh(base.sigma)
        np.linalg.eigh(a)

    te, ts = [], []
    for _ in range(reps):  # interleaved pairs: other load on the machine hits both alike
        te.append(best_of(eigs, 1))
        ts.append(best_of(lambda: solve(fresh()), 1))
    ratios = np.array(ts) / np.array(te)
    print(f"[1] dense d={d}, n={n}: solve {min(ts) * 1e3:.1f} ms (best), two eigh {min(te) * 1e3:.1f} ms (best); "
          f"ratio best/best {min(ts) / min(te):.2f}, median of paired ratios {np.median(ratios):.2f} (target ≤ 1.5)")


def bench_lbfgs(d: int, n: int) -> None:
    pr = dense_problem(d, n, seed=1)
    t0 = time.perf_counter()
    opt = solve(pr)
    t_solve = time.perf_counter() - t0
    rng = np.random.default_rng(2)
    th0 = np.concatenate([np.eye(d).ravel() / d, rng.uniform(0.5, 1.5, n) / n])
    t0 = time.perf_counter()
    res = minimize(lambda th: risk_and_grad(pr, th), th0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-12})
    t_lbfgs = time.perf_counter() - t0
    gap = (res.fun - opt.risk) / opt.risk
    print(f"[2] d={d}, n={n}: solve {t_solve * 1e3:.1f} ms, L-BFGS-B {t_lbfgs * 1e3:.0f} ms "
          f"({res.nit} iterations), time ratio {t_lbfgs / t_solve:.0f}×, final risk gap (L_lbfgs − L*)/L* = {gap:.2e}")


def bench_structured(sizes, d: int = 50) -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((d, d))
    sig = a @ a.T / d + 0.1 * np.eye(d)
    C = 0.3 + 0.7 * np.eye(4)
    rows = []
    for n in sizes:
        pr = Problem.segmented(sig, [n // 4] * 4, [0.2, 0.4, 0.6, 0.8], C, query_variance=2.0, noise=0.1)
        _ = pr.sigma_eig  # Σ's eigen-decomposition is shared by all n: time the n-dependent part
        tracemalloc.start()
        t0 = time.perf_counter()
        opt = solve(pr)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert opt.omega.shape == (4 * (n // 4),) and opt.converged
        rows.append((n, dt, peak))
        print(f"[3] segments n = {n:>9,d}: {dt * 1e3:8.1f} ms, peak traced memory {peak / 2**20:8.1f} MiB "
              f"({peak / n:5.1f} B/token)")
    (n0, t0_, _), (n1, t1, _) = rows[0], rows[-1]
    print(f"[3] time ratio n={n1:,d} / n={n0:,d}: {t1 / t0_:.1f} for a size ratio {n1 / n0:.0f} "
          f"(fixed O(d³ + K³) part dominates at small n)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    np.seterr(all="raise", under="ignore")
    if args.quick:
        bench_dense(50, 400, 2)
        bench_lbfgs(10, 100)
        bench_structured([10**3, 10**4, 10**5, 10**6])
    else:
        bench_dense(100, 1000, 9)
        bench_lbfgs(20, 200)
        bench_structured([10**3, 10**4, 10**5, 10**6, 10**7])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
