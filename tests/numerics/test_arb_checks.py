"""The Arb checks registered in ``wpgd verify`` pass in quick mode; wpgd.numerics.exact.ball's public API."""

import pytest

from wpgd.proofs_check.runner import registered_checks

pytest.importorskip("flint")


@pytest.mark.parametrize("name", ["optimum.arb_certificate", "optimum.arb_solve"])
def test_arb_check_passes_quick(name):
    checks = {c.name: c for c in registered_checks()}
    assert checks[name].group == "optimum"
    ev = checks[name].func(True)
    assert ev.passed and not ev.skipped, ev.evidence


def test_ball_public_names():
    import wpgd.numerics.exact.ball as ball

    assert set(ball.__all__) == {"ArbUnavailableError", "Ball", "BallCertificate", "BallOptimum", "FixedPointBall",
                                 "arb_available", "certify_arb", "solve_ball"}
    assert all(getattr(ball, n) is not None for n in ball.__all__)
