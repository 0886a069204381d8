"""``wpgd conditions``: the hypotheses of the uniqueness theorem and of Assumption 3, with margins."""

from __future__ import annotations

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
    p.add_argument("--backend", default="auto", choices=("auto", "arb", "mpmath"),
                   help="certificate backend: arb (python-flint), mpmath, or auto = arb when python-flint is "
                        "installed (default auto)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def run(args) -> int:
    from numerics.api import conditions_report

    rep = conditions_report(load_spec(args.spec), certify=args.certify, backend=args.backend)
    if args.json:
        print_json(rep.to_dict())
    else:
        print(rep.summary())
    return 0
