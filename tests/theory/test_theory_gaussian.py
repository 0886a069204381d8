"""The Wick/Isserlis engine (scalar and index mode) and the tensor-network contraction."""

import itertools

import numpy as np
import pytest
import sympy as sp

import wpgd.theory as theory
from wpgd.theory.contraction import FEATURE_DELTA, TOKEN_DELTA
from wpgd.theory.gaussian import Field, GaussianMoments, IndexTerm, Tensor, perfect_matchings

PUBLIC_API = [
    "ContractionSpec",
    "ExplicitSymbols",
    "Field",
    "GaussianMoments",
    "IndexTerm",
    "JointGaussian",
    "JointTokenMatrix",
    "Tensor",
    "TracePrinter",
    "TraceSymbols",
    "canonical_trace",
    "canonicalize_traces",
    "check_explicit_equals_trace",
    "check_gradient",
    "compile_trace_risk",
    "compiled_composition",
    "compiled_elasticity",
    "compiled_optimal_scale",
    "compiled_phi",
    "compiled_phi_derivative",
    "compiled_risk_gradient",
    "compiled_stationary_maps",
    "composition_elasticity_identity",
    "composition_expressions",
    "contract",
    "contract_sum",
    "explicit_minus_trace",
    "explicit_risk",
    "explicit_substitution",
    "explicit_symbols",
    "gaussian_expectation",
    "gradient_at",
    "gradient_minus_explicit",
    "isotropic_reduction",
    "lambdify_trace",
    "matrix_derivative",
    "optimal_scale",
    "perfect_matchings",
    "phi_derivative_certificate",
    "phi_explicit",
    "phi_expressions",
    "predictor_index_terms",
    "r_reduction_difference",
    "risk_gradient",
    "risk_structure",
    "sigma_reduction_difference",
    "split_rbar",
    "square_terms",
    "stationary_P",
    "stationary_omega",
    "symmetric_matrix",
    "trace_expectation",
    "trace_form_at",
    "trace_form_risk",
    "trace_symbols",
    "wick_expectation",
]


def test_public_api_is_exactly_the_documented_list():
    extra = [name for name in theory.__all__ if name not in PUBLIC_API]
    missing = [name for name in PUBLIC_API if name not in theory.__all__]
    assert not extra and not missing, (extra, missing)
    for name in theory.__all__:
        assert hasattr(theory, name)


def _sym_cov(names):
    """Generic symmetric covariance symbols c_uv for the given variables."""
    idx = {v: k for k, v in enumerate(names)}

    def cov(u, v):
        a, b = sorted((idx[u], idx[v]))
        return sp.Symbol(f"c_{a}{b}")

    return cov


def _naive_isserlis(factors, cov):
    """Reference twin: sum over all perfect matchings of the list of factors."""
    total = sp.Integer(0)
    for m in perfect_matchings(list(range(len(factors)))):
        total += sp.Mul(*(cov(factors[a], factors[b]) for a, b in m))
    return sp.expand(total)


def test_univariate_even_and_odd_moments():
    z, s = sp.symbols("z s")
    eng = GaussianMoments([z], {(z, z): s})
    assert eng.expectation(z**4) == 3 * s**2
    assert eng.expectation(z**6) == 15 * s**3
    assert eng.expectation(z**8) == 105 * s**4
    for k in (1, 3, 5, 7):
        assert eng.expectation(z**k) == 0


def test_four_distinct_variables_give_three_pairings():
    vs = sp.symbols("z1:5")
    cov = _sym_cov(vs)
    got = GaussianMoments(vs, cov).expectation(sp.Mul(*vs))
    c = lambda a, b: sp.Symbol(f"c_{a}{b}")  # noqa: E731
    assert sp.expand(got - (c(0, 1) * c(2, 3) + c(0, 2) * c(1, 3) + c(0, 3) * c(1, 2))) == 0


@pytest.mark.parametrize("seed", range(6))
def test_memoised_recursion_matches_naive_matching_sum(seed):
    rng = np.random.default_rng(seed)
    vs = sp.symbols("g0:4")
    cov = _sym_cov(vs)
    eng = GaussianMoments(vs, cov)
    exps = rng.integers(0, 3, size=4)
    if exps.sum() % 2:
        exps[0] += 1
    factors = [v for v, e in zip(vs, exps) for _ in range(int(e))]
    assert sp.expand(eng.expectation(sp.Mul(*factors)) - _naive_isserlis(factors, cov)) == 0


def test_independent_blocks_factor_and_cache_is_reused():
    a, b, c = sp.symbols("a b c")
    sa, sb, sc, rho = sp.symbols("s_a s_b s_c rho")
    eng = GaussianMoments([a, b, c], {(a, a): sa, (b, b): sb, (c, c): sc, (a, b): rho})
    assert [len(bl) for bl in eng.blocks] == [2, 1]
    got = eng.expectation(a**2 * b**2 * c**2)
    assert sp.expand(got - (sa * sb + 2 * rho**2) * sc) == 0
    size = eng.cache_size
    eng.expectation(a**2 * b**2 * c**2)
    assert eng.cache_size == size
    assert eng.expectation(a * c) == 0


def test_coefficients_with_foreign_symbols_and_nonpolynomial_covariance():
    z = sp.Symbol("z")
    t, k = sp.symbols("t k")
    eng = GaussianMoments([z], {(z, z): sp.sin(t)})
    assert sp.simplify(eng.expectation(k * z**2 + (z + 1) ** 2) - (k * sp.sin(t) + sp.sin(t) + 1)) == 0


def test_rejects_asymmetric_covariance():
    a, b = sp.symbols("a b")
    with pytest.raises(ValueError):
        GaussianMoments([a, b], lambda u, v: 1 if (u, v) == (a, b) else 0)


def test_random_polynomial_matches_monte_carlo():
    rng = np.random.default_rng(7)
    vs = sp.symbols("u0:3")
    M = rng.normal(size=(3, 3))
    C = M @ M.T / 3 + 0.3 * np.eye(3)
    Cq = sp.Matrix(3, 3, lambda i, j: sp.Rational(round(C[i, j] * 1000), 1000))
    eng = GaussianMoments(vs, lambda u, v: Cq[vs.index(u), vs.index(v)])
    poly = sum(
        sp.Rational(int(rng.integers(-3, 4)), 1) * sp.Mul(*(v**e for v, e in zip(vs, ex)))
        for ex in itertools.product(range(3), repeat=3)
        if 0 < sum(ex) <= 4
    )
    exact = float(eng.expectation(poly))
    f = sp.lambdify(vs, poly, "numpy")
    Cn = np.array(Cq.tolist(), dtype=float)
    samples = rng.multivariate_normal(np.zeros(3), Cn, size=400_000)
    vals = f(*samples.T)
    z = (vals.mean() - exact) / (vals.std(ddof=1) / np.sqrt(len(vals)))
    assert abs(z) < 5, (exact, vals.mean(), z)


def _x(token, feat):
    return Field("x", token, feat)


def _x_rule(f, g):
    return IndexTerm(
        sp.Integer(1), (Tensor(TOKEN_DELTA, (f.token, g.token)), Tensor("Sigma", (f.feature, g.feature)))
    )


def test_wick_index_mode_counts_and_independence():
    term = IndexTerm(sp.Integer(2), (), tuple(_x("i", a) for a in "abcd"))
    pairs = theory.wick_expectation(term, _x_rule)
    assert len(pairs) == 3 and all(p.coeff == 2 and not p.fields for p in pairs)
    odd = IndexTerm(sp.Integer(1), (), (_x("i", "a"), _x("i", "b"), _x("j", "c")))
    assert theory.wick_expectation(odd, _x_rule) == []
    mixed = IndexTerm(sp.Integer(1), (), (_x("i", "a"), Field("xi", "i"), _x("i", "b")))
    assert theory.wick_expectation(mixed, lambda f, g: _x_rule(f, g) if f.name == "x" else None) == []


def _spec():
    return theory.risk._contraction_spec()


def test_contraction_traces_are_canonical():
    T = theory.trace_symbols()
    spec = _spec()
    a = IndexTerm(sp.Integer(1), (Tensor("P", ("a", "b")), Tensor("Sigma", ("b", "a"))))
    b = IndexTerm(sp.Integer(1), (Tensor("Sigma", ("c", "a")), Tensor("P", ("a", "c"))))
    c = IndexTerm(sp.Integer(1), (Tensor("P", ("b", "a")), Tensor("Sigma", ("b", "a"))))
    assert theory.contract(a, spec) == theory.contract(b, spec) == sp.Trace(T.P * T.Sigma)
    assert theory.contract(c, spec) == sp.Trace(T.P * T.Sigma)  # tr(PᵀΣ) = tr(ΣP)
    loop = IndexTerm(sp.Integer(1), (Tensor(FEATURE_DELTA, ("a", "b")), Tensor(FEATURE_DELTA, ("b", "a"))))
    assert theory.contract(loop, spec) == T.d
    pt = IndexTerm(sp.Integer(1), (Tensor("P", ("a", "b")), Tensor("P", ("a", "b"))))
    assert theory.contract(pt, spec) == sp.Trace(T.P * T.P.T)
    with pytest.raises(ValueError):
        theory.contract(IndexTerm(sp.Integer(1), (Tensor("P", ("a", "b")),)), spec)


def test_contraction_token_forms():
    T = theory.trace_symbols()
    spec = _spec()
    w = lambda s: Tensor("omega", (s,))  # noqa: E731
    rb = lambda s, t: Tensor("Rbar", (s, t))  # noqa: E731
    dt = lambda s, t: Tensor(TOKEN_DELTA, (s, t))  # noqa: E731
    one = sp.Integer(1)
    assert theory.contract(IndexTerm(one, (w("i"), rb("i", "j"), w("j"))), spec) == sp.Trace(
        T.omega.T * T.R * T.omega
    )
    assert theory.contract(IndexTerm(one, (w("i"), rb("i", "j"), w("j"), dt("i", "j"))), spec) == sp.Trace(
        T.omega.T * T.D_R * T.omega
    )
    assert theory.contract(IndexTerm(one, (w("i"), rb("q", "i"))), spec) == sp.Trace(T.omega.T * T.r)
    assert theory.contract(IndexTerm(one, (w("i"), dt("i", "q"))), spec) == 0
    assert theory.contract(IndexTerm(one, (rb("q", "q"), dt("q", "q"))), spec) == T.r_q
    assert theory.contract(IndexTerm(one, (rb("i", "j"), rb("j", "i"))), spec) == sp.Trace(T.R**2)
    assert theory.contract(IndexTerm(one, (rb("i", "i"),)), spec) == sp.Trace(T.D_R)
