"""``wpgd risk``: closed-form (and optionally Monte Carlo) risk of one WPGD algorithm."""

from __future__ import annotations

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.montecarlo import ESTIMATOR_NAMES
from wpgd.numerics.core.spec import load_spec

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
    from wpgd.numerics.core.api import risk_report

    if args.backend is not None and not args.mc:
        raise InvalidProblemError("--backend chooses the Monte Carlo backend: give --mc SAMPLES too, or drop --backend")
    problem = load_spec(args.spec)
    P = load_npy(args.preconditioner, "preconditioner") if args.preconditioner else None
    omega = load_npy(args.weights, "weights") if args.weights else None
    if args.mc:
        if args.mc == 1:
            raise InvalidProblemError("--mc needs at least 2 samples (a standard error needs two)")
        with progress_bar(args.mc, "monte carlo", unit="prompt", enabled=not args.json) as bar:
            rep = risk_report(problem, P, omega, mc=args.mc, estimator=args.estimator, seed=args.seed,
                              backend=args.backend or "numpy",
                              progress=lambda done, total: bar.update(done - bar.n))
    else:
        rep = risk_report(problem, P, omega)
    if args.json:
        print_json(rep.to_dict())
    else:
        print(rep.summary())
    return 0
