"""``wpgd solve``: the optimal WPGD algorithm (P*, ω*) of a problem spec, with diagnostics."""

from __future__ import annotations

import argparse
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.spec import load_spec
from wpgd.numerics.core.vocabulary import (
    ARCHITECTURES,
    ATLAS_CONTEXTS,
    SOLVE_CLASS_CHOICES,
    STEPS_CLASSES,
    WPGD_ARCHITECTURES,
)

from ..flags import SEED, integer
from ..io import print_json, write_output_set

MAX_DIGITS = 10_000

HELP = "optimal preconditioner and token weights (P*, ω*) and the optimal risk of a problem spec"
DESCRIPTION = """\
Solve min over (P, ω) of the WPGD population risk (docs/theory.md §5): P* ∝ (Σ + γ*I)^-1,
ω* ∝ (M1 + μ*M2)^-1 r, where γ* is a fixed point of φ_R∘φ_Σ. Every fixed point on the
invariant interval is found (log-scale sign scan, monotone exclusion, Brent) and the one of
lowest risk is returned; ω* is normalised to max|ω*| = 1 and the optimal scale sits in P*.
Segment specs use the structured O(K³ + d³ + n) path (10⁷ tokens are fine).

  --precision D   repeat the solve in D-digit arithmetic, its own root search, and report the
                  float64 error (Arb: proven balls for risk, γ*, μ*, ω*; docs/certificate.md)
  --certify       ball/interval proof that the fixed point is unique, or of how many there are
  --backend B     arb (python-flint ball arithmetic, any size), mpmath (d and n/K ≤ 80 unless
                  diagonal), auto = arb when python-flint is installed (default)
  --class C       optimum over one weight class (linear, geometric, scalar, vector,
                  unconstrained), over what one published architecture realises under the
                  one-layer construction (retnet, mamba2, gla, rwkv6, mlstm: the architecture
                  atlas, docs/theory.md §8), or all of them side by side
  --context X     the architectures' prompt: none (the paper's: demonstrations carry no
                  segment tag) or onehot (each demonstration carries its segment one-hot)
  --heads H       the architectures with H heads sharing one preconditioner (read out as a
                  sum): RetNet's H fixed decays span ω; two Mamba2/mLSTM heads reach
                  unconstrained WPGD on segment prompts
  --stationary    list every stationary point family with its Hessian inertia (Theorem 2)
  --steps L       L ≥ 2 with --class scalar: the optimum of the L-step gated GD++ class with
                  label rescaling (what trained L-layer scalar GLAs compute: label and feature
                  writes, the delimiter's gated label rescaling, per-layer spectral matrices,
                  demonstration/delimiter gates, one delimiter gate and coefficient per
                  boundary), fitted on sampled prompts and scored on fresh ones with a 95% CI;
                  no closed form exists (docs/multilayer.md). Needs PyTorch; minutes at d = 10
  --steps-class C gdpp-rescale (default, with --class scalar); gdpp: gated GD++ without the
                  rescaling and with one shared delimiter gate (the earlier class); recursion:
                  the structured label-only recursion (6.1) with type gates (the only one for
                  --class linear)

examples:
  wpgd solve --spec examples/two_segments.toml
  wpgd solve --spec examples/two_segments.toml --precision 50 --certify --out runs/opt --json
  wpgd solve --spec examples/two_segments.toml --class all
  wpgd solve --spec examples/reversed_segments.toml --class mamba2 --context onehot
  wpgd solve --spec examples/two_segments.toml --class scalar --steps 2
"""



def solve_class(value: str) -> str:
    """``--class`` value: a delta-rule architecture is refused with the reason (it has no WPGD form, so there
    is no class optimum to solve for), not with argparse's bare "invalid choice"."""
    arch = ARCHITECTURES.get(value)
    if arch is not None and not arch.wpgd_form:
        raise argparse.ArgumentTypeError(
            f"{value} ({arch.label}) has no WPGD form, so it has no class optimum: its rows are trained only "
            f"(wpgd atlas --spec FILE)")
    return value


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML), see README")
    p.add_argument("--precision", type=integer(20, MAX_DIGITS), metavar="DIGITS",
                   help=f"also solve with DIGITS-digit mpmath (20..{MAX_DIGITS})")
    p.add_argument("--certify", action="store_true", help="prove uniqueness of the fixed point (interval arithmetic)")
    p.add_argument("--backend", default=None, choices=("auto", "arb", "mpmath"),
                   help="exact backend of --certify/--precision, only with one of them (refused without): arb "
                        "(python-flint), mpmath, or auto = arb when python-flint is installed (default auto)")
    p.add_argument("--class", dest="cls", default="unconstrained", choices=SOLVE_CLASS_CHOICES, type=solve_class,
                   help="weight class or architecture to optimise over (default unconstrained)")
    p.add_argument("--context", default="none", choices=ATLAS_CONTEXTS,
                   help=f"prompt context of the architectures ({', '.join(WPGD_ARCHITECTURES)}) and --class all: "
                        "none (the paper's prompt) or onehot (segment one-hot on each demonstration) (default none)")
    p.add_argument("--heads", type=integer(1, 64), default=1, metavar="H",
                   help="heads of the architectures (and --class all) sharing one preconditioner, 1..64 (default 1)")
    p.add_argument("--key-width", type=integer(1, 2**16), metavar="M",
                   help="key width of the vector-gated layer for --class vector/gla/rwkv6/all (default 2d: reaches "
                        "the optimum)")
    p.add_argument("--stationary", action="store_true", help="classify every stationary point (Hessian inertia)")
    p.add_argument("--steps", type=integer(1, 8), default=1, metavar="L",
                   help="WPGD steps (layers); L ≥ 2 fits the L-step reference for --class scalar or linear (default 1)")
    p.add_argument("--steps-class", dest="steps_class", default=None, choices=STEPS_CLASSES,
                   help="class of --steps L ≥ 2: gdpp-rescale (gated GD++ with the delimiter's label rescaling; "
                        "default for --class scalar), gdpp (gated GD++ without it, one shared delimiter gate) or "
                        "recursion (labels only, the structured recursion (6.1); the only one for --class linear)")
    p.add_argument("--seed", type=SEED, default=0,
                   help="seed of the L-step fit's prompt samples and starts, 0..2^32-1 (default 0)")
    p.add_argument("--out", metavar="DIR",
                   help="save P.npy, omega.npy and summary.json into DIR, as one set (all or nothing; "
                        "files of an earlier run there are replaced together)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def run(args) -> int:
    from wpgd.numerics.core.api import solve_problem

    if args.backend is not None and not (args.certify or args.precision is not None):
        raise InvalidProblemError("--backend chooses the backend of --certify/--precision: give one of them too, "
                                  "or drop --backend")
    problem = load_spec(args.spec)
    report = solve_problem(problem, cls=args.cls, precision=args.precision, certify=args.certify,
                           backend=args.backend or "auto", stationary=args.stationary, key_width=args.key_width,
                           steps=args.steps, steps_class=args.steps_class, seed=args.seed,
                           progress=not args.json, context=args.context,
                           heads=args.heads)
    out = report.to_dict()
    if args.out:
        write_output_set(Path(args.out), {f"{name}.npy": arr for name, arr in report.arrays().items()},
                         {"summary.json": out})
    if args.json:
        print_json(out)
    else:
        print(report.summary())
    return 0
