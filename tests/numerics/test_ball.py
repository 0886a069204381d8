"""The Arb ball layer (wpgd.numerics.exact.ball): enclosures, certificate, D-digit solve, missing backend."""

import sys

import mpmath as mp
import numpy as np
import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.solver import solve
from wpgd.proofs_check.optimum_cases import three_fixed_points_problem
from wpgd.proofs_check.random_problems import random_orthogonal, random_problem, spd_from_spectrum

flint = pytest.importorskip("flint")

from wpgd.numerics.exact.ball import certify_arb, solve_ball  # noqa: E402
from wpgd.numerics.exact.ball._flint import workprec  # noqa: E402
from wpgd.numerics.exact.ball.enclose import enclose  # noqa: E402


def _clustered(rng, d=12):
    lam = np.concatenate([np.full(4, 1.0), 1.0 + 1e-11 * np.arange(3), np.linspace(2.0, 5.0, d - 7)])
    return spd_from_spectrum(lam, random_orthogonal(rng, d))


def _mp_measure(a, b, dps=50):
    with mp.workdps(dps):
        ev, z = mp.eigsy(mp.matrix(a.tolist()))
        m = a.shape[0]
        mass = [mp.fsum(z[i, k] * mp.mpf(float(b[i])) for i in range(m)) ** 2 for k in range(m)]
        order = sorted(range(m), key=lambda k: ev[k])
        return [ev[k] for k in order], [mass[k] for k in order]


@pytest.mark.parametrize("target_bits", [20, 100])
def test_enclosure_contains_the_spectral_measure_cluster_by_cluster(target_bits):
    rng = np.random.default_rng(0)
    a = _clustered(rng)
    b = rng.standard_normal(12)
    ev, mass = _mp_measure(a, b)
    with workprec(200), mp.workdps(50):
        enc = enclose(a, b=[flint.arb(float(x)) for x in b], scale_floor=1.0, target_bits=target_bits)
        pos = 0
        for atom, m, size in zip(enc.atoms, enc.masses, enc.sizes):
            for k in range(pos, pos + size):
                assert atom.contains(flint.arb(mp.nstr(ev[k], 45))), (k, atom)
            assert m.contains(flint.arb(mp.nstr(mp.fsum(mass[pos:pos + size]), 45)))
            pos += size
        assert pos == 12
    if target_bits == 100:  # refined: the eigenvalues 1e-11 apart are resolved, radii tiny
        assert enc.refinements >= 1 and enc.radius < 1e-24 and enc.clusters >= 6
    else:
        assert enc.refinements == 0 and enc.radius < 1e-12


def test_fast_products_enclose_too():
    rng = np.random.default_rng(1)
    a = _clustered(rng, 20)
    ev = np.linalg.eigvalsh(a)
    with workprec(100):
        enc = enclose(a, fast=True)
    pos = 0
    for atom, size in zip(enc.atoms, enc.sizes):
        for k in range(pos, pos + size):
            assert float(atom.lower()) - 1e-14 <= ev[k] <= float(atom.upper()) + 1e-14
        pos += size
    assert enc.radius < 1e-9


def _random_gap_problems():
    rng = np.random.default_rng(5)
    out = [Problem.segmented(_clustered(rng), [3, 5, 2], [0.2, 0.3, 0.4], noise=0.2),
           Problem.segmented(np.eye(40), [4, 2, 6, 1], [0.2, 0.3, 0.3, 0.4], noise=0.1)]
    out += [random_problem(rng, 8, n=10, condition=5.0), random_problem(rng, 15, segments=[3, 7, 2, 9], condition=8.0)]
    return out


@pytest.mark.parametrize("k", range(4))
def test_certificate_agrees_with_the_solver(k):
    pr = _random_gap_problems()[k]
    opt = solve(pr)
    cert = certify_arb(pr)
    assert cert.certified and cert.status == "unique", cert.reason
    a, b = cert.enclosure
    assert a - 1e-12 * opt.gamma <= opt.gamma <= b + 1e-12 * opt.gamma
    assert cert.contraction_bound >= opt.contraction * (1 - 1e-9) - 1e-15
    lo, hi = cert.invariant_interval
    assert lo <= a <= b <= hi and "unique global minimiser" in cert.statement


def test_three_fixed_points_are_proven_not_unique():
    pr = three_fixed_points_problem(1.0)
    opt = solve(pr)
    cert = certify_arb(pr)
    assert not cert.certified and cert.status == "multiple"
    assert [f.kind for f in cert.fixed_points] == ["attracting", "repelling", "attracting"]
    for f, g, s in zip(cert.fixed_points, opt.fixed_points, opt.fixed_point_slopes):
        assert f.lo <= g <= f.hi and f.slope[0] <= s * (1 + 1e-9) and s <= f.slope[1] * (1 + 1e-9)
    assert "3 fixed points proven" in cert.reason


def test_larger_non_diagonal_problem_uses_the_fast_path():
    rng = np.random.default_rng(7)
    d, K = 120, 150
    sig = spd_from_spectrum(np.geomspace(0.2, 1.0, d), random_orthogonal(rng, d))
    pr = random_problem(rng, 3, segments=[int(s) for s in rng.integers(1, 9, K)], condition=4.0)
    pr = Problem.segmented(sig, pr.segment_sizes, pr.query_correlation, correlation=pr.segment_correlation,
                           query_variance=pr.query_variance, noise=pr.noise)
    opt = solve(pr)
    cert = certify_arb(pr)
    assert cert.certified, cert.reason
    assert cert.data["products"] == "float64 a priori"
    assert cert.enclosure[0] <= opt.gamma <= cert.enclosure[1]


def _independent_fixed_point(pr, guess):
    """γ* of the (diagonal) three-fixed-point problem by mpmath.findroot, 60 digits, no shared code."""
    with mp.workdps(60):
        lam = [mp.mpf(float(x)) for x in np.diag(pr.sigma)]
        tr = mp.fsum(lam)
        C, c, n = pr.segment_correlation, pr.query_correlation, pr.segment_sizes
        rho, m = [], []
        for k in range(len(n)):
            v = mp.mpf(float(C[k, k]))
            m2 = tr * v + mp.mpf(float(pr.noise))
            rho.append((n[k] + 1) * v / m2)
            m.append(n[k] * mp.mpf(float(c[k])) ** 2 / m2)

        def phi(t, e, w):
            return mp.fsum(x / (a + t) ** 2 for a, x in zip(e, w)) / mp.fsum(x * a / (a + t) ** 2 for a, x in zip(e, w))

        return mp.findroot(lambda g: phi(phi(g, lam, [x * x for x in lam]), rho, m) - g, mp.mpf(guess))


def test_solve_ball_encloses_an_independent_50_digit_root_and_the_float_optimum():
    pr = three_fixed_points_problem(1.0)
    opt = solve(pr)
    hp = solve_ball(pr, 50)
    assert hp.certificate.status == "multiple" and len(hp.fixed_points) == 3 and hp.optimum_decided
    g = _independent_fixed_point(pr, opt.gamma)
    assert flint.arb(hp.gamma.mid, hp.gamma.rad).contains(flint.arb(mp.nstr(g, 55)))
    assert hp.gamma.rad < 1e-45 * hp.gamma.value and hp.risk.rad < 1e-45 * hp.risk.value
    assert abs(opt.risk - hp.risk.value) <= 1e-13 * hp.risk.value
    assert np.max(np.abs(opt.omega - hp.omega_float)) < 1e-12
    assert max(w.rad for w in hp.omega) < 1e-40


def test_solve_ball_dense_agrees_with_structured():
    pr = random_problem(np.random.default_rng(3), 4, segments=[2, 3, 2], condition=30.0)
    a, b = solve_ball(pr, 30), solve_ball(pr.as_dense(), 30)
    ball = lambda x: flint.arb(x.mid, x.rad)  # noqa: E731
    assert ball(a.risk).overlaps(ball(b.risk)) and ball(a.gamma).overlaps(ball(b.gamma))
    assert a.risk.rad < 1e-28 * abs(a.risk.value) and b.risk.rad < 1e-28 * abs(b.risk.value)


def test_degenerate_and_bad_input():
    zero = Problem.segmented(np.eye(2), [2, 2], [0.0, 0.0])
    assert certify_arb(zero).status == "degenerate" and not certify_arb(zero).certified
    assert solve_ball(zero, 20).degenerate
    pr = Problem.segmented(np.eye(2), [2], [0.5])
    with pytest.raises(InvalidProblemError, match="≥ 20"):
        solve_ball(pr, 10)
    with pytest.raises(InvalidProblemError, match="≥ 10"):
        certify_arb(pr, 5)
    from wpgd.numerics.exact.ball._flint import resolve_backend

    with pytest.raises(InvalidProblemError, match="backend"):
        resolve_backend("intervals")


def test_missing_python_flint_is_said_never_passed(monkeypatch):
    from wpgd.numerics.core.conditions import check_conditions
    from wpgd.numerics.exact.ball import ArbUnavailableError, arb_available
    from wpgd.numerics.exact.ball._flint import resolve_backend
    from wpgd.proofs_check.runner import registered_checks

    monkeypatch.setitem(sys.modules, "flint", None)  # import flint now raises ImportError
    assert not arb_available()
    pr = Problem.segmented(np.diag([1.0, 4.0]), [3, 5], [0.3, 0.7], noise=0.1)
    with pytest.raises(ArbUnavailableError, match="python-flint"):
        certify_arb(pr)
    with pytest.raises(ArbUnavailableError):
        resolve_backend("arb")
    assert resolve_backend("auto") == "mpmath"
    rep = check_conditions(pr, certify_digits=30)
    assert rep.extra["certificate"]["backend"] == "mpmath" and rep["certificate"].holds
    checks = {c.name: c for c in registered_checks()}
    for name in ("optimum.arb_certificate", "optimum.arb_solve"):
        ev = checks[name].func(True)
        assert ev.skipped and "python-flint" in ev.evidence


def test_negative_control_fails_the_check_if_the_counterexample_were_certified(monkeypatch):
    import wpgd.numerics.exact.ball as ball
    from wpgd.proofs_check.runner import registered_checks

    real = ball.certify_arb

    def lenient(problem, *a, **kw):
        cert = real(problem, *a, **kw)
        if cert.status == "multiple":  # a broken certificate that calls the counterexample unique
            from dataclasses import replace

            return replace(cert, certified=True, status="unique", fixed_points=cert.fixed_points[:1])
        return cert

    monkeypatch.setattr(ball, "certify_arb", lenient)
    check = {c.name: c for c in registered_checks()}["optimum.arb_certificate"]
    ev = check.func(True)
    assert not ev.passed and not ev.data["control"]["refused"]


def test_mpmath_high_precision_agrees_with_the_ball_solve_beyond_float64():
    """The two 50-digit paths share no code: they must agree far beyond float64 (a negative control
    is the old mpmath path, which rounded M2^{-1/2} to float64 and differed from digit 17 on)."""
    import mpmath as mp

    from wpgd.numerics import solve_highprec
    from wpgd.proofs_check.optimum_cases import three_fixed_points_problem

    pr = three_fixed_points_problem(1.0)
    hp, ball = solve_highprec(pr, 50), solve_ball(pr, 50)
    with mp.workdps(60):
        gap = abs(mp.mpf(hp.details["gamma"]) - mp.mpf(ball.gamma.mid)) / mp.mpf(ball.gamma.mid)
    assert gap < mp.mpf(10) ** -40, gap
