"""``wpgd risk``: closed-form (and optionally Monte Carlo) risk of one WPGD algorithm."""

from __future__ import annotations

from numerics.errors import InvalidProblemError
from numerics.montecarlo import ESTIMATOR_NAMES, monte_carlo_risk
from numerics.risk import check_pw, risk
from numerics.spec import load_spec

from ..flags import SEED, integer
from ..io import load_npy, print_json, progress_bar

MAX_MC = 10**12

HELP = "population risk of ŷ = xᵀP Xᵀ(ω ⊙ y) for a problem spec (closed form, optional Monte Carlo)"
DESCRIPTION = """\
Evaluate the population risk L(P, ω) = E[(ŷ − y)²] of the WPGD predictor
ŷ = xᵀ P Xᵀ (ω ⊙ y) in closed form (docs/theory.md §4) and, with --mc, by Monte Carlo.

Prints the raw risk and the normalised risk L / (r_q tr Σ + σ²) (1 = predicting zero).
With --mc it also prints the Monte Carlo mean, its standard error (absolute and relative to
the mean), a 95% interval, the z-score (MC − closed form)/SE and the estimator used. Every
estimator is unbiased for the same risk: "conditional" (default) samples the demonstration
features and integrates the tasks and label noise out exactly given them (lowest variance),
"query" integrates out only the query's features and noise, "plain" samples everything (the
most independent check). See docs/risk.md.

example:
  wpgd risk --spec examples/two_segments.toml --mc 200000 --seed 1
"""


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML), see README")
    p.add_argument(
        "--preconditioner", metavar="P.npy", help="preconditioner P, a d×d .npy array (default: identity)"
    )
    p.add_argument("--weights", metavar="W.npy", help="token weights ω, a length-n .npy array (default: all ones)")
    p.add_argument(
        "--mc", type=integer(0, MAX_MC), metavar="SAMPLES", default=0,
        help="also estimate the risk from SAMPLES sampled prompts (0 = off, default; at most 1e12, and the "
             "estimated run time must be within WPGD_MAX_SECONDS)"
    )
    p.add_argument(
        "--estimator", choices=list(ESTIMATOR_NAMES), default="conditional",
        help="Monte Carlo estimator: conditional (tasks and noise integrated out given the sampled features; "
        "default), query (query features and noise integrated out) or plain (everything sampled)",
    )
    p.add_argument("--seed", type=SEED, default=0, help="seed of the Monte Carlo sampler, 0..2^32-1 (default 0)")
    p.add_argument(
        "--backend", choices=["numpy", "torch"], default=None,
        help="Monte Carlo backend, only with --mc (refused without it): numpy or torch (default numpy)"
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def run(args) -> int:
    if args.backend is not None and not args.mc:
        raise InvalidProblemError("--backend chooses the Monte Carlo backend: give --mc SAMPLES too, or drop --backend")
    problem = load_spec(args.spec)
    P = load_npy(args.preconditioner, "preconditioner") if args.preconditioner else None
    omega = load_npy(args.weights, "weights") if args.weights else None
    P, omega = check_pw(problem, P, omega)
    if P.ndim != 2 or omega.ndim != 1:
        raise InvalidProblemError("--preconditioner must be one d×d matrix and --weights one length-n vector")
    val = risk(problem, P, omega)
    out = {
        "problem": problem.describe(),
        "risk": val,
        "normalized_risk": val / problem.null_risk,
        "null_risk": problem.null_risk,
    }
    if args.mc < 0:
        raise InvalidProblemError("--mc must be a non-negative number of samples")
    if args.mc:
        if args.mc == 1:
            raise InvalidProblemError("--mc needs at least 2 samples (a standard error needs two)")
        with progress_bar(args.mc, "monte carlo", unit="prompt", enabled=not args.json) as bar:
            mc = monte_carlo_risk(
                problem,
                P,
                omega,
                samples=args.mc,
                seed=args.seed,
                backend=args.backend or "numpy",
                estimator=args.estimator,
                progress=lambda done, total: bar.update(done - bar.n),
            )
        out["monte_carlo"] = mc.to_dict(reference=val)
    if args.json:
        print_json(out)
        return 0
    pr = out["problem"]
    print(f"problem          d = {pr['d']}, n = {pr['n']}, tr Σ = {pr['trace_sigma']:.6g}, σ² = {pr['noise']:.6g}")
    print(f"risk             {val:.10g}")
    print(f"normalized risk  {out['normalized_risk']:.10g}   (1 = predicting zero)")
    if args.mc:
        mc = out["monte_carlo"]
        print(
            f"monte carlo      {mc['mean']:.10g} ± {mc['stderr']:.3g} (SE), 95% CI [{mc['ci_low']:.6g}, "
            f"{mc['ci_high']:.6g}], {mc['samples']} prompts, seed {mc['seed']}"
        )
        print(f"relative SE      {100 * mc['relative_stderr']:.3g}%   ({mc['estimator']} estimator, {mc['backend']})")
        print(f"z-score          {mc['z_score']:+.3f}   (MC − closed form)/SE")
    return 0
