"""Calibration of the derivation checker's Monte Carlo statistic (not a test: prints figures).

Under a TRUE claim (the project's risk), the Monte Carlo z-score of the mean squared error
should be ~N(0, 1). Squared errors of the WPGD predictor are strongly right-skewed, so the
plain z-score is biased negative with a heavy left tail; the skewness-corrected score
(:func:`wpgd.proofs_check.derivations.skew_corrected_z`, Hall's monotone form of Johnson's modified
t) is what the checker uses. For R replicates at two instances (the Hypothesis draw with the
largest predictor parameters, the heaviest tails, and one at the upper quartile) it prints
mean, standard deviation, extremes and the fraction of replicates beyond 3 and beyond the
checker's default bound 3.66 (alpha = 1e-3 over 4 comparisons), for both statistics.

Usage::

    python benchmarks/derivation_mc_calibration.py                  # 300 replicates × 20000 prompts
    python benchmarks/derivation_mc_calibration.py --reps 50 --samples 5000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wpgd.proofs_check.derivation_search import search  # noqa: E402
from wpgd.proofs_check.derivations import (  # noqa: E402
    Derivation,
    PromptModel,
    instances,
    skew_corrected_z,
    wpgd_predictor,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300, help="replicates per instance (default 300)")
    ap.add_argument("--samples", type=int, default=20_000, help="prompts per replicate (default 20000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the instance draw (default 0)")
    args = ap.parse_args()
    deriv = Derivation(PromptModel(), wpgd_predictor(), lambda p: 0)
    seen = []
    search(instances(deriv.model, deriv.predictor, 2, 2), lambda i: False, args.seed, seen)
    size = lambda i: float(np.abs(i.values["P"]).sum() + np.abs(i.values["omega"]).sum())  # noqa: E731
    ranked = sorted(seen, key=size, reverse=True)
    print(f"d = 2, n = 2, {args.reps} replicates × {args.samples} prompts, true claim = derived risk")
    for label, inst in (("largest P, ω", ranked[0]), ("upper quartile", ranked[len(ranked) // 4])):
        truth = deriv.derived_value(inst)
        plain, corrected = [], []
        for rep in range(args.reps):
            mean, se, mu3 = deriv.monte_carlo(inst, args.samples, seed=1000 + rep)
            plain.append((mean - truth) / se)
            corrected.append(skew_corrected_z(mean, se, mu3, args.samples, truth))
        for name, z in (("plain z", np.array(plain)), ("corrected", np.array(corrected))):
            print(f"{label:<15} risk {truth:9.4g}  {name:<10} mean {z.mean():+.3f} sd {z.std():.3f} "
                  f"min {z.min():+.2f} max {z.max():+.2f}  |z|>3: {np.mean(np.abs(z) > 3):.3f}  "
                  f"|z|>3.66: {np.mean(np.abs(z) > 3.66):.3f}")


if __name__ == "__main__":
    main()
