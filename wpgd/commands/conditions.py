"""``wpgd conditions``: the hypotheses of the uniqueness theorem and of Assumption 3, with margins."""

from __future__ import annotations

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.spec import load_spec

from ..io import print_json

HELP = "check Σ ≻ 0, R̄ ⪰ 0, the effective spectral gap condition, contraction, uniqueness, Assumption 3"
DESCRIPTION = """\
One line per condition: name, verdict (yes / NO / - for a measured quantity without a
verdict), margin (positive = holds with room to spare), detail. Definitions and proofs:
docs/conditions.md. The rows, in order:

  sigma_pd                 Σ ≻ 0 (margin λmin/λmax); a singular Σ is solved on its range
  task_psd                 the joint task correlation R̄ ⪰ 0 (margin λmin/max(1, |λ|max))
  m2_pd                    M2 = tr Σ·D_R + σ²I ≻ 0; tokens with zero task variance and σ² = 0
                           carry no label signal and are dropped (ω = 0)
  gap_sigma                effective spectral gap of Σ, δ_Σ = tanh(¼ log κ_Σ), κ_Σ = λmax/λmin
                           of the non-zero eigenvalues (a measured value, no verdict)
  gap_task                 the same for the task side, δ_R of the informative generalised
                           eigenvalues of (M1, M2) (a measured value, no verdict)
  gap_condition            δ_Σ·δ_R < 1/2: proves the contraction ≤ 4δ_Σ²δ_R² < 1, hence a unique
                           fixed point (Theorem: uniqueness)
  localized_gap_condition  the same bound maximised over the invariant interval only (weaker
                           hypothesis, same conclusion)
  contraction              computed sup |d log(φ_R∘φ_Σ)/d log γ| on the invariant interval < 1
  fixed_points             exactly one fixed point found by the sign scan + Brent, no unresolved
                           cell (numerical evidence, not a proof)
  certificate              (--certify only) ball/interval proof of a unique fixed point (--backend
                           arb: python-flint, any size; mpmath: d and n/K ≤ 80 unless diagonal)
  uniqueness               the strongest verdict available: condition (proof from the gap
                           condition), certified (interval proof), numerical (one fixed point
                           found, no unresolved cell), or "multiple fixed points"
  ordering                 the data side of Assumption 3: query correlations ±r ≥ 0 and
                           non-decreasing toward the query (per segment, or per token for a
                           dense spec)
  assumption3              ω* ≥ 0 and non-decreasing toward the query up to one overall sign:
                           scalar gating (with delimiters) reaches the unconstrained optimum

A degenerate problem (the zero predictor is optimal) prints sigma_pd, task_psd, m2_pd and a
uniqueness row saying why.

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
    from wpgd.numerics.core.api import conditions_report

    if args.backend is not None and not args.certify:
        raise InvalidProblemError("--backend chooses the backend of --certify: give --certify too, or drop --backend")
    rep = conditions_report(load_spec(args.spec), certify=args.certify, backend=args.backend or "auto")
    if args.json:
        print_json(rep.to_dict())
    else:
        print(rep.summary())
    return 0
