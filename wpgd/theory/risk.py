"""Population risk of the WPGD predictor, derived by Wick pairings (docs/theory.md §3–§4).

Model. Features ``x_1..x_n, x ~ N(0, Σ)`` i.i.d.; tasks ``(β_1..β_n, β)`` jointly Gaussian,
independent of the features, ``E[β_s β_tᵀ] = R̄_st I_d`` with ``R̄`` (n+1)×(n+1), query last;
labels ``y_i = x_iᵀβ_i + ξ_i``, ``y = xᵀβ + ξ``, ``ξ ~ N(0, σ²)`` i.i.d. The predictor is one
step of weighted preconditioned gradient descent,

    ŷ = xᵀ P Xᵀ (ω ⊙ y) = Σ_i ω_i x_a P_ab x_{i,b} (x_{i,c} β_{i,c} + ξ_i),

and the risk is ``L(P, ω) = E[(ŷ − y)²]``. Nothing below is typed in by hand: the risk is the
Gaussian expectation of that square, computed two ways.

* :func:`wpgd.theory.explicit.explicit_risk` — at explicit sizes ``d, n`` with every entry a symbol (``Σ`` as a
  symmetric matrix of symbols, or through a factor ``Σ = A Aᵀ``, i.e. ``x = A z`` with ``z``
  standard normal), by the scalar engine :class:`wpgd.theory.gaussian.GaussianMoments`.
* :func:`trace_form_risk` — for symbolic ``d, n``: the square is written in index notation,
  averaged by :func:`wpgd.theory.gaussian.wick_expectation` with covariances
  ``E[x_{s,a} x_{t,b}] = δ_st Σ_ab``, ``E[β_{s,a} β_{t,b}] = R̄_st δ_ab``,
  ``E[ξ_s ξ_t] = σ² δ_st`` (Kronecker deltas on token labels make the sums unrestricted),
  and contracted by :mod:`wpgd.theory.contraction` into traces over features and quadratic forms
  over tokens in ``R, D_R = diag R, r, r_q``.

:func:`explicit_minus_trace` substitutes explicit matrices into the trace form and expands
the difference with the explicit risk (a polynomial identity, so it must be exactly 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .codegen import lambdify_trace, split_rbar
from .contraction import (
    FEATURE_DELTA,
    TOKEN_DELTA,
    ContractionSpec,
    JointTokenMatrix,
    contract_sum,
)
from .expectation import square_terms
from .explicit import PARAMETRIZATIONS, explicit_risk, explicit_symbols
from .gaussian import Field, IndexTerm, Tensor, wick_expectation

__all__ = [
    "TraceSymbols",
    "trace_symbols",
    "trace_form_risk",
    "predictor_index_terms",
    "compile_trace_risk",
    "explicit_substitution",
    "trace_form_at",
    "explicit_minus_trace",
    "check_explicit_equals_trace",
]


@dataclass(frozen=True)
class TraceSymbols:
    """Matrix symbols of the trace-form risk (symbolic sizes ``d``, ``n``).

    Attributes:
        d, n: sizes (positive integer symbols).
        Sigma: Σ, d×d.  P: preconditioner, d×d.  R: in-context task block, n×n.
        D_R: diag(R), n×n.  r: query correlations, n×1.  omega: weights, n×1.
        r_q: query variance.  sigma2: noise variance σ².
    """

    d: sp.Symbol
    n: sp.Symbol
    Sigma: sp.MatrixSymbol
    P: sp.MatrixSymbol
    R: sp.MatrixSymbol
    D_R: sp.MatrixSymbol
    r: sp.MatrixSymbol
    omega: sp.MatrixSymbol
    r_q: sp.Symbol
    sigma2: sp.Symbol

    @property
    def arguments(self) -> list:
        """Argument order of the lambdified trace-form functions."""
        return [self.Sigma, self.R, self.D_R, self.r, self.r_q, self.P, self.omega, self.sigma2]


@cache
def trace_symbols() -> TraceSymbols:
    """The shared matrix symbols of the trace form."""
    d, n = sp.symbols("d n", integer=True, positive=True)
    return TraceSymbols(
        d=d,
        n=n,
        Sigma=sp.MatrixSymbol("Sigma", d, d),
        P=sp.MatrixSymbol("P", d, d),
        R=sp.MatrixSymbol("R", n, n),
        D_R=sp.MatrixSymbol("D_R", n, n),
        r=sp.MatrixSymbol("r", n, 1),
        omega=sp.MatrixSymbol("omega", n, 1),
        r_q=sp.Symbol("r_q"),
        sigma2=sp.Symbol("sigma2"),
    )


def _contraction_spec() -> ContractionSpec:
    T = trace_symbols()
    return ContractionSpec(
        feature_dim=T.d,
        feature_matrices={"Sigma": T.Sigma, "P": T.P},
        symmetric=frozenset({"Sigma"}),
        token_count=T.n,
        token_vectors={"omega": T.omega},
        joint=JointTokenMatrix("Rbar", T.R, T.D_R, T.r, T.r_q),
        fixed_tokens=frozenset({"q"}),
    )


def _cov_rule(f: Field, g: Field) -> IndexTerm | None:
    if f.name == "x":
        return IndexTerm(
            sp.Integer(1),
            (Tensor(TOKEN_DELTA, (f.token, g.token)), Tensor("Sigma", (f.feature, g.feature))),
        )
    if f.name == "beta":
        return IndexTerm(
            sp.Integer(1),
            (Tensor("Rbar", (f.token, g.token)), Tensor(FEATURE_DELTA, (f.feature, g.feature))),
        )
    if f.name == "xi":
        return IndexTerm(trace_symbols().sigma2, (Tensor(TOKEN_DELTA, (f.token, g.token)),))
    raise ValueError(f"unknown field {f.name!r}")


def predictor_index_terms() -> tuple[list[IndexTerm], list[IndexTerm]]:
    """``ŷ`` and ``y`` in index notation (token ``i`` summed over 1..n, query token ``q``).

    Returns:
        ``(y_hat_terms, y_terms)``: ``ŷ = Σ_i ω_i x_{q,a} P_ab x_{i,b} y_i`` expanded with
        ``y_i = x_{i,c} β_{i,c} + ξ_i``, and ``y = x_{q,a} β_{q,a} + ξ_q``.
    """
    one = sp.Integer(1)
    head = IndexTerm(
        one, (Tensor("omega", ("i",)), Tensor("P", ("a", "b"))), (Field("x", "q", "a"), Field("x", "i", "b"))
    )
    label_terms = [
        IndexTerm(one, (), (Field("x", "i", "c"), Field("beta", "i", "c"))),
        IndexTerm(one, (), (Field("xi", "i"),)),
    ]
    y_hat = [head * t for t in label_terms]
    y = [
        IndexTerm(one, (), (Field("x", "q", "a"), Field("beta", "q", "a"))),
        IndexTerm(one, (), (Field("xi", "q"),)),
    ]
    return y_hat, y


def _square(terms: list[IndexTerm]) -> list[IndexTerm]:
    return square_terms(terms, fixed=("q",))


@cache
def trace_form_risk() -> tuple[sp.Expr, TraceSymbols]:
    """The risk for symbolic ``d, n`` as traces and token quadratic forms.

    Quadratic forms are written as traces of 1×1 products, e.g. ``Trace(omega.T*R*omega)``
    for ``ωᵀRω``, so that the whole risk is a scalar SymPy expression.

    Returns:
        ``(L, symbols)``: the raw risk (units of y²) and its :class:`TraceSymbols`.
    """
    y_hat, y = predictor_index_terms()
    err = y_hat + [IndexTerm(-t.coeff, t.tensors, t.fields) for t in y]
    spec = _contraction_spec()
    total = []
    for term in _square(err):
        total.extend(wick_expectation(term, _cov_rule))
    return sp.expand(contract_sum(total, spec)), trace_symbols()


@cache
def compile_trace_risk() -> Callable[..., float]:
    """Compile the trace-form risk to ``f(Sigma, Rbar, P, omega, sigma2) -> float``.

    The callable takes ``Sigma`` shape (d, d), ``Rbar`` shape (n+1, n+1) with the query last,
    ``P`` shape (d, d), ``omega`` shape (n,), ``sigma2`` a float, and returns the raw risk.
    All arithmetic is the lambdified expression of :func:`trace_form_risk`; the wrapper only
    slices ``R̄`` into ``R, diag(R), r, r_q``.
    """
    expr, T = trace_form_risk()
    f = lambdify_trace(expr, T.arguments)

    def risk(Sigma, Rbar, P, omega, sigma2) -> float:
        R, D_R, r, r_q = split_rbar(Rbar)
        w = np.asarray(omega, dtype=np.float64).reshape(-1, 1)
        return float(
            f(np.asarray(Sigma, dtype=np.float64), R, D_R, r, r_q,
              np.asarray(P, dtype=np.float64), w, float(sigma2))
        )

    return risk


def explicit_substitution(d: int, n: int, parametrization: str = "covariance") -> dict:
    """Map the trace-form symbols to the explicit matrices of :func:`explicit_symbols`.

    Returns:
        ``{Sigma: Σ or A Aᵀ, P: P, R: R̄[:n,:n], D_R: diag, r: R̄[:n,n], omega: ω,
        r_q: R̄[n,n], sigma2: σ², d: d, n: n}`` for use with ``xreplace`` then ``doit``.
    """
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}")
    T = trace_symbols()
    S = explicit_symbols(d, n)
    sigma = S.Sigma if parametrization == "covariance" else S.A * S.A.T
    R = S.Rbar[:n, :n]
    return {
        T.Sigma: sp.ImmutableMatrix(sigma),
        T.P: S.P,
        T.R: sp.ImmutableMatrix(R),
        T.D_R: sp.ImmutableMatrix(sp.diag(*[R[i, i] for i in range(n)])),
        T.r: sp.ImmutableMatrix(S.Rbar[:n, n]),
        T.omega: S.omega,
        T.r_q: S.Rbar[n, n],
        T.sigma2: S.sigma2,
        T.d: sp.Integer(d),
        T.n: sp.Integer(n),
    }


def trace_form_at(d: int, n: int, parametrization: str = "covariance") -> sp.Expr:
    """The trace-form risk with the explicit matrices of :func:`explicit_symbols` substituted.

    Returns:
        A scalar SymPy expression (not expanded) in the explicit symbols.
    """
    expr, _ = trace_form_risk()
    return expr.xreplace(explicit_substitution(d, n, parametrization)).doit()


def explicit_minus_trace(
    d: int, n: int, parametrization: str = "covariance", method: str = "ring"
) -> sp.Expr:
    """Expanded difference ``explicit_risk(d, n) − trace_form_at(d, n)`` (0 iff they agree).

    Args:
        d, n: sizes.
        parametrization: ``"covariance"`` (identity in the entries of a symmetric Σ, which
            implies it for every ``Σ = A Aᵀ``), or ``"factor"`` / ``"latent"`` (identity in
            the entries of A; see :func:`explicit_risk`).
        method: ``"ring"`` expands both sides in a sparse polynomial ring (fast);
            ``"expand"`` calls ``sympy.expand`` on the difference.

    Returns:
        The expanded difference as a SymPy expression.
    """
    explicit, S = explicit_risk(d, n, parametrization)
    trace = trace_form_at(d, n, parametrization)
    if method == "expand":
        return sp.expand(explicit - trace)
    if method != "ring":
        raise ValueError("method must be 'ring' or 'expand'")
    gens = sorted((explicit.free_symbols | trace.free_symbols), key=sp.default_sort_key)
    ring = sp.polys.rings.PolyRing(gens, sp.QQ)
    return (ring.from_expr(explicit) - ring.from_expr(trace)).as_expr()


def check_explicit_equals_trace(
    d: int, n: int, parametrization: str = "covariance", method: str = "ring"
) -> bool:
    """True iff the explicit and trace-form risks agree identically at sizes ``d, n``."""
    return explicit_minus_trace(d, n, parametrization, method) == 0
