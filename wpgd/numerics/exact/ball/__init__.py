"""Ball arithmetic (FLINT's Arb via python-flint, optional): rigorous certificates and solves.

* :func:`certify_arb` — how many fixed points φ_R∘φ_Σ has, proven cell by cell, each enclosed;
* :func:`solve_ball` — the optimum in D-digit ball arithmetic, its own root bracketing, with
  proven balls for the risk, γ*, μ* and ω*.

Mathematics: docs/certificate.md. Install the backend with ``pip install 'gating-is-weighting[exact]'``.
"""

from wpgd.numerics.exact.ball._flint import (
           ArbUnavailableError as ArbUnavailableError,
           arb_available as arb_available,
)
from wpgd.numerics.exact.ball.certify import (
           BallCertificate as BallCertificate,
           FixedPointBall as FixedPointBall,
           certify_arb as certify_arb,
)
from wpgd.numerics.exact.ball.solve import Ball as Ball, BallOptimum as BallOptimum, solve_ball as solve_ball

__all__ = ["ArbUnavailableError", "Ball", "BallCertificate", "BallOptimum", "FixedPointBall", "arb_available",
           "certify_arb", "solve_ball"]
