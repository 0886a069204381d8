"""``wpgd conditions``: the hypotheses of the uniqueness theorem and of Assumption 3, with margins."""

from __future__ import annotations

from numerics.errors import InvalidProblemError
from numerics.spec import load_spec

from ..io import print_json

HELP = "check Σ ≻ 0, R̄ ⪰ 0, the effective spectral gap condition, contraction, uniqueness, Assumption 3"
DESCRIPTION = """\
One line per condition with its verdict and margin (positive = holds with room to spare).
Definitions and proofs: docs/conditions.md.

  gap_condition            δ_Σ·δ_R < 1/2, δ = tanh(¼ log κ) of the non-zero extreme eigenvalues
                           (Σ on its range; informative generalised eigenvalues of (M1, M2))
  localized_gap_condition  the same bound maximised over the invariant interval only
  contraction              computed sup |d log(φ_R∘φ_Σ)/d log γ| on the invariant interval
  certificate              (--certify) ball/interval proof of a unique fixed point (--backend
                           arb: python-flint, any size; mpmath: d and n/K ≤ 80 unless diagonal)
  assumption3              ω* ≥ 0 and non-decreasing toward the query: scalar gating reaches it

The uniqueness verdict is the strongest available: condition (proof from the gap condition),
certified (interval proof), numerical (one fixed point found, no unresolved cell),
or "multiple fixed points".

example:
  wpgd conditions --spec examples/two_segments.toml --certify
"""


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML), see README")
    p.add_argument("--certify", action="store_true", help="also run the interval certificate (30 digits)")
    p.add_argument("--backend", default=None, choices=("auto", "arb", "mpmath"),
                   help="certificate backend, only with --certify (refused without it): arb (python-flint), "
                        "mpmath, or auto = arb when python-flint is installed (default auto)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def run(args) -> int:
    from numerics.conditions import check_conditions

    if args.backend is not None and not args.certify:
        raise InvalidProblemError("--backend chooses the backend of --certify: give --certify too, or drop --backend")
    problem = load_spec(args.spec)
    rep = check_conditions(problem, certify_digits=30 if args.certify else None,
                           certify_backend=args.backend or "auto")
    if args.json:
        print_json({"problem": problem.describe(), **rep.to_dict()})
        return 0
    for c in rep.conditions:
        verdict = {True: "yes", False: "NO", None: "-"}[c.holds]
        margin = "" if c.margin is None else f"{c.margin:+.3e}"
        print(f"{c.name:<24} {verdict:<4} {margin:>11}  {c.detail}")
    return 0
