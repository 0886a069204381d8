"""How much of the scalar class a scalar-gated GLA can reach with a SHARED delimiter flag (issue 9).

A scalar gate is a function of the token. With one delimiter flag shared by every boundary, all
delimiter tokens are the same token, so they all get the same gate γ, and the data tokens (whose
gates see only x and y, which carry no segment identity) decay by a per-token factor a. The
WPGD weights a one-layer scalar GLA realises are then

    ω_i = a^(data tokens after i) · γ^(boundaries after i),          0 < a, γ ≤ 1,

a two-parameter family, while the scalar class of docs/theory.md (the theory optimum the trainer
reports against) is every non-decreasing ω ≥ 0, piecewise constant over segments: K − 1 free
ratios. With K ≤ 2 segments the family contains the class optimum (one ratio, a = 1); with
K ≥ 3 it does not in general. This script minimises the population risk over (P, a, γ) (closed
form risk, ``wpgd.numerics.core.risk``) and prints it next to the scalar class optimum: the gap is the
part of a trained model's gap that no optimiser can remove. With one code per boundary
(``delimiter="boundary"``) every boundary has its own gate and the family is the whole class.

Usage::

    python benchmarks/delimiter_capacity.py docs/training_grid/*.toml
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.numerics.core.classes import class_optimum  # noqa: E402
from wpgd.numerics.core.risk import normalized_risk  # noqa: E402
from wpgd.numerics.core.spec import load_spec  # noqa: E402


def shared_flag_optimum(problem) -> tuple[float, float, float]:
    """Smallest normalised risk over (P, a, γ) of the shared-flag family; returns (risk, a, γ)."""
    d, sizes = problem.d, np.asarray(problem.segment_sizes)
    k = len(sizes)
    seg = np.repeat(np.arange(k), sizes)
    n = int(sizes.sum())
    after_data = n - 1 - np.arange(n)
    after_bound = k - 1 - seg
    start = class_optimum(problem, "scalar")
    iu = np.triu_indices(d)

    def unpack(theta):
        P = np.zeros((d, d))
        P[iu] = theta[:-2]
        P = P + np.triu(P, 1).T
        la, lg = -np.logaddexp(0, -theta[-2]), -np.logaddexp(0, -theta[-1])  # log σ(·) ≤ 0
        return P, np.exp(after_data * la + after_bound * lg)

    def f(theta):
        P, omega = unpack(theta)
        return float(normalized_risk(problem, P, omega))

    best = None
    for lg0 in (-2.0, 0.0, 2.0, 6.0):
        # start from the class optimum's P scaled to the mean weight, data gate ≈ 1
        om = np.asarray(start.omega)
        theta0 = np.concatenate([(np.asarray(start.P) * om.mean())[iu], [8.0, lg0]])
        res = minimize(f, theta0, method="L-BFGS-B", options={"maxiter": 3000})
        if best is None or res.fun < best.fun:
            best = res
    a, g = 1 / (1 + np.exp(-best.x[-2])), 1 / (1 + np.exp(-best.x[-1]))
    return float(best.fun), float(a), float(g)


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:])
    print("| spec | K | scalar class optimum | best with a shared flag | gap |")
    print("|---|---|---|---|---|")
    for path in paths:
        problem = load_spec(path)
        if not problem.is_segmented:
            continue
        opt = class_optimum(problem, "scalar").normalized_risk
        flag, a, g = shared_flag_optimum(problem)
        print(f"| `{Path(path).stem}` | {problem.num_segments} | {opt:.5f} | "
              f"{flag:.5f} (a = {a:.4f}, γ = {g:.3f}) | {100 * (flag - opt) / opt:+.2f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
