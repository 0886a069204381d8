"""Benchmark of the Arb certificate (``wpgd.numerics.exact.ball.certify_arb``) against the float64 solve.

One run, one table: for d = K ∈ {20, 50, 100, 200, 500} (Toeplitz Σ_ij = 0.5^|i−j|, i.e.
non-diagonal; K segments of 1–19 tokens with a random PSD task correlation) it times

* ``solve`` (float64, the baseline, measured right before each certificate),
* ``certify_arb`` (Arb ball certificate, 30 digits; float64 midpoint–radius products first),
* the mpmath certificate where it applies (d, K ≤ 40: pure-Python eigensolver),
* ``solve_ball`` at 30 digits for d ≤ 100 (Arb products, refined eigenvectors),
* and one dense row (d = n = 500: Toeplitz Σ, dense R̄, the n×n pencil),

and prints the ratios certificate / float64 solve in the same run, plus the load average
(2 shared cores: absolute times vary several-fold with the load; the ratios less so).

Usage::

    python benchmarks/bench_certificate.py            # d = 20 … 500 (a few minutes under load)
    python benchmarks/bench_certificate.py --quick    # d = 20, 50, 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import toeplitz

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.solver import solve  # noqa: E402
from wpgd.proofs_check.random_problems import joint_task_matrix  # noqa: E402


def problem(d: int, k: int, seed: int = 0) -> Problem:
    """Non-diagonal Toeplitz Σ (d×d), K segments, random PSD task correlation."""
    rng = np.random.default_rng(seed)
    var = np.exp(rng.uniform(-1, 0, k + 1))
    joint = joint_task_matrix(rng.standard_normal((k + 1, k + 2)), var)
    sizes = [int(x) for x in rng.integers(1, 20, k)]
    return Problem.segmented(toeplitz(0.5 ** np.arange(d)), sizes, joint[:k, k], correlation=joint[:k, :k],
                             query_variance=joint[k, k], noise=0.1)


def dense_problem(d: int, n: int, seed: int = 1) -> Problem:
    """Toeplitz Σ_ij = 0.6^|i−j| and a dense (n+1)×(n+1) task correlation (the n×n pencil)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n + 1, 8))
    h = rng.standard_normal((n + 1, n + 1)) / np.sqrt(n)
    rbar = g @ g.T + 0.1 * h @ h.T
    dia = np.sqrt(np.diag(rbar))
    return Problem.dense(toeplitz(0.6 ** np.arange(d)), rbar / np.outer(dia, dia), 0.1)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d = 20, 50, 100 only")
    ap.add_argument("--dense-only", action="store_true", help="only the dense d = n row")
    args = ap.parse_args(argv)
    from wpgd.numerics.exact.ball import arb_available, certify_arb, solve_ball
    from wpgd.numerics.exact.certificate import certify

    if not arb_available():
        print("SKIP: python-flint is not installed (pip install 'gating-is-weighting[exact]')")
        return 0
    sizes = () if args.dense_only else ((20, 50, 100) if args.quick else (20, 50, 100, 200, 500))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'d = K':>6} {'float64 s':>10} {'arb cert s':>11} {'ratio':>7} {'status':>8} {'γ* rel width':>13} "
          f"{'mpmath cert s':>14} {'ball solve(30) s':>17}")
    for n in sizes:
        pr = problem(n, n)
        opt, t64 = timed(lambda: solve(pr))
        cert, tc = timed(lambda: certify_arb(pr))
        width = (cert.enclosure[1] - cert.enclosure[0]) / opt.gamma if cert.enclosure else float("nan")
        if n <= 40:
            mcert, tm = timed(lambda: certify(pr, 30))
            mtxt = f"{tm:.2f}" + ("" if mcert.certified else " (fail)")
        else:
            mtxt = "refuses d > 80" if n > 80 else "skipped"
        if n <= 100:
            hp, th = timed(lambda: solve_ball(pr, 30))
            htxt = f"{th:.2f}"
        else:
            htxt = "-"
        print(f"{n:>6} {t64:>10.2f} {tc:>11.2f} {tc / t64:>7.1f} {cert.status:>8} {width:>13.1e} {mtxt:>14} {htxt:>17}",
              flush=True)
    n = 100 if args.quick else 500
    pr = dense_problem(n, n)
    opt, t64 = timed(lambda: solve(pr))
    cert, tc = timed(lambda: certify_arb(pr))
    width = (cert.enclosure[1] - cert.enclosure[0]) / opt.gamma if cert.enclosure else float("nan")
    print(f"dense d = n = {n}: float64 {t64:.2f} s, arb certificate {tc:.2f} s (ratio {tc / t64:.1f}), "
          f"{cert.status}, γ* rel width {width:.1e}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
