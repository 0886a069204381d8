"""The derivation checker refutes single slips with counterexamples that really disagree, and
accepts the right formulas (exact leg); the numeric leg decides for non-symbolic claims."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given

import wpgd.theory as theory
from wpgd.numerics import Problem, risk
from wpgd.proofs_check.derivations import (
    Derivation,
    DerivationInputError,
    Predictor,
    PromptModel,
    assert_derivation,
    check_derivation,
    claim_symbols,
    dot,
    instances,
    quad,
    tr,
    wpgd_predictor,
)


def formula(p, slip=None):
    """The project's risk, or the same with one plausible slip."""
    S, P, w = p.Sigma, p.P, p.omega
    Pt = P if slip == "transposed_P" else P.T
    a = tr(P @ S @ S)
    b = tr(Pt @ S @ P @ S @ S) if slip != "transposed_P" else tr(P @ S @ P.T @ S @ S)
    c = tr(P.T @ S @ P @ S)
    m1 = p.R if slip == "missing_D_R" else p.R + p.D_R
    null = p.r_q * (tr(S @ S) if slip == "trace_sigma_squared" else tr(S)) + p.sigma2
    cross = (1 if slip == "factor_2" else 2) * a * dot(p.r, w)
    if slip == "sign":
        cross = -cross
    noise = (b if slip == "noise_term" else c) * p.sigma2 * dot(w, w)
    return null - cross + b * quad(w, m1, w) + c * tr(S) * quad(w, p.D_R, w) + noise


SLIPS = ["missing_D_R", "factor_2", "noise_term", "transposed_P", "trace_sigma_squared", "sign"]
MODEL, PRED = PromptModel(), wpgd_predictor()


def test_the_right_formula_holds_exactly_as_callable_and_as_trace_expression():
    for claim in (formula, theory.trace_form_risk()[0]):
        report = check_derivation(MODEL, PRED, claim, sizes=[(1, 1), (2, 2)], mc=0)
        assert report.holds and [s.exact for s in report.sizes] == [True, True], report.summary()
        assert report.numeric_max_rel_error < 1e-12


@pytest.mark.parametrize("slip", SLIPS)
def test_each_slip_is_refuted_with_a_counterexample_that_really_disagrees(slip):
    report = check_derivation(MODEL, PRED, lambda p: formula(p, slip), sizes=[(2, 2)], mc=0)
    assert not report.holds and report.sizes[0].exact is False, report.summary()
    ce = report.counterexample
    assert ce is not None
    v = ce.instance.values
    # Independent evaluation: the project's NumPy closed form, not the Wick engine.
    independent = risk(Problem.dense(v["Sigma"], v["Rbar"], v["sigma2"]), v["P"], np.ravel(v["omega"]))
    assert ce.derived == pytest.approx(independent, rel=1e-9, abs=1e-12)
    assert abs(ce.claimed - independent) > 1e-6 * max(1.0, abs(independent))
    assert "wpgd.numerics.core.risk" in ce.independent


def test_transposed_P_is_invisible_at_d1_and_caught_at_d2():
    report = check_derivation(MODEL, PRED, lambda p: formula(p, "transposed_P"), sizes=[(1, 1)], mc=0)
    assert report.holds  # P is a scalar at d = 1: the slip needs d ≥ 2, hence the default sizes
    assert (2, 2) in Derivation(MODEL, PRED, formula).default_sizes()


def test_counterexample_disagrees_under_monte_carlo():
    report = check_derivation(MODEL, PRED, lambda p: formula(p, "missing_D_R"), sizes=[(1, 1)], mc=0)
    ce = report.counterexample
    mean, se, _ = Derivation(MODEL, PRED, formula).monte_carlo(ce.instance, 100_000, seed=5)
    assert abs(mean - ce.derived) < 5 * se  # Monte Carlo agrees with the derivation …
    assert abs(mean - ce.claimed) > 5 * se  # … and not with the claim


def test_non_symbolic_claim_is_decided_by_the_numeric_leg():
    def numpy_only(p, slip=None):
        arr = lambda m: np.asarray(m, dtype=np.float64)  # noqa: E731 - fails on SymPy symbols
        q = {k: arr(getattr(p, k)) for k in ("Sigma", "P", "omega", "R", "D_R", "r")}
        ns = type("NS", (), {**q, "r_q": float(p.r_q), "sigma2": float(p.sigma2)})
        return formula(ns, slip)

    good = check_derivation(MODEL, PRED, numpy_only, sizes=[(2, 2)], mc=0)
    assert good.holds and good.sizes[0].exact is None and "numeric leg decides" in good.sizes[0].note
    bad = check_derivation(MODEL, PRED, lambda p: numpy_only(p, "missing_D_R"), sizes=[(2, 2)], mc=0)
    assert not bad.holds and "numerically" in bad.reasons[0]
    assert bad.counterexample is not None


def test_per_token_noise_and_isotropic_variants_hold():
    model = PromptModel(sigma="isotropic", noise="per_token")

    def claim(p):  # the noise enters through D_noise, the query's through σ_q²
        S, P, w = p.Sigma, p.P, p.omega
        c = tr(P.T @ S @ P @ S)
        return (p.r_q * tr(S) + p.sigma2_q - 2 * tr(P @ S @ S) * dot(p.r, w)
                + tr(P.T @ S @ P @ S @ S) * quad(w, p.R + p.D_R, w) + c * quad(w, tr(S) * p.D_R + p.D_noise, w))

    assert_derivation(model, PRED, claim, sizes=[(2, 2)], mc=0)
    with pytest.raises(AssertionError, match="counterexample"):  # shared-noise formula: refuted
        assert_derivation(model, PRED, lambda p: claim(p) - p.sigma2_q + p.noise[0, 0], sizes=[(1, 2)], mc=0)


def test_claim_symbols_expression_and_bad_claims():
    T = claim_symbols()
    expr = T.r_q * sp.Trace(T.Sigma) + T.sigma2  # the risk of P = 0 only
    report = check_derivation(MODEL, PRED, expr, sizes=[(1, 1)], mc=0)
    assert not report.holds
    with pytest.raises(DerivationInputError, match="symbols"):
        check_derivation(MODEL, PRED, sp.Symbol("zeta") + T.sigma2, sizes=[(1, 1)], mc=0)
    assert not check_derivation(MODEL, PRED, 3, sizes=[(1, 1)], mc=0).holds  # a constant claim is a claim
    with pytest.raises(DerivationInputError, match="callable"):
        check_derivation(MODEL, PRED, "r_q * tr(Sigma)", sizes=[(1, 1)], mc=0)
    with pytest.raises(DerivationInputError):
        check_derivation(MODEL, "not a predictor", formula)
    with pytest.raises(DerivationInputError):
        PromptModel(noise="per_voxel")
    with pytest.raises(DerivationInputError):
        check_derivation(PromptModel(tasks="segments", segments=3), PRED, formula, sizes=[(1, 2)], mc=0)
    with pytest.raises(DerivationInputError, match="scalar"):
        bad = Predictor(lambda t, p: t.X, {}, "matrix-valued")
        check_derivation(MODEL, bad, lambda p: p.sigma2, sizes=[(2, 2)], mc=0)
    with pytest.raises(DerivationInputError, match="available"):
        check_derivation(MODEL, PRED, lambda p: p.Sigmaa[0, 0], sizes=[(1, 1)], mc=0)


_DERIV = Derivation(MODEL, PRED, formula)


@given(instances(MODEL, PRED, 2, 2))
def test_user_style_hypothesis_test_engine_vs_numerics(inst):
    """What a user writes in their own suite: the derived risk against an independent formula."""
    v = inst.values
    expected = risk(Problem.dense(v["Sigma"], v["Rbar"], v["sigma2"]), v["P"], np.ravel(v["omega"]))
    assert _DERIV.derived_value(inst) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert _DERIV.claimed_value(inst) == pytest.approx(expected, rel=1e-9, abs=1e-12)
