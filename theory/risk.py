"""Population risk of the WPGD predictor, derived by Wick pairings (THEORY.md §3–§4).

Model. Features ``x_1..x_n, x ~ N(0, Σ)`` i.i.d.; tasks ``(β_1..β_n, β)`` jointly Gaussian,
independent of the features, ``E[β_s β_tᵀ] = R̄_st I_d`` with ``R̄`` (n+1)×(n+1), query last;
labels ``y_i = x_iᵀβ_i + ξ_i``, ``y = xᵀβ + ξ``, ``ξ ~ N(0, σ²)`` i.i.d. The predictor is one
step of weighted preconditioned gradient descent,

    ŷ = xᵀ P Xᵀ (ω ⊙ y) = Σ_i ω_i x_a P_ab x_{i,b} (x_{i,c} β_{i,c} + ξ_i),

and the risk is ``L(P, ω) = E[(ŷ − y)²]``. Nothing below is typed in by hand: the risk is the
Gaussian expectation of that square, computed two ways.

* :func:`explicit_risk` — at explicit sizes ``d, n`` with every entry a symbol (``Σ`` as a
  symmetric matrix of symbols, or through a factor ``Σ = A Aᵀ``, i.e. ``x = A z`` with ``z``
  standard normal), by the scalar engine :class:`theory.gaussian.GaussianMoments`.
* :func:`trace_form_risk` — for symbolic ``d, n``: the square is written in index notation,
  averaged by :func:`theory.gaussian.wick_expectation` with covariances
  ``E[x_{s,a} x_{t,b}] = δ_st Σ_ab``, ``E[β_{s,a} β_{t,b}] = R̄_st δ_ab``,
  ``E[ξ_s ξ_t] = σ² δ_st`` (Kronecker deltas on token labels make the sums unrestricted),
  and contracted by :mod:`theory.contraction` into traces over features and quadratic forms
  over tokens in ``R, D_R = diag R, r, r_q``.

:func:`explicit_minus_trace` substitutes explicit matrices into the trace form and expands
the difference with the explicit risk (a polynomial identity, so it must be exactly 0).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from .contraction import (
    FEATURE_DELTA,
    TOKEN_DELTA,
    ContractionSpec,
    JointTokenMatrix,
    contract_sum,
)
from .gaussian import Field, GaussianMoments, IndexTerm, Tensor, wick_expectation

__all__ = [
    "ExplicitSymbols",
    "TraceSymbols",
    "TracePrinter",
    "lambdify_trace",
    "split_rbar",
    "explicit_symbols",
    "explicit_risk",
    "trace_symbols",
    "trace_form_risk",
    "predictor_index_terms",
    "compile_trace_risk",
    "trace_form_at",
    "explicit_minus_trace",
    "check_explicit_equals_trace",
]

PARAMETRIZATIONS = ("covariance", "factor", "latent")


@dataclass(frozen=True)
class ExplicitSymbols:
    """Symbols of the explicit-size risk.

    Attributes:
        d: feature dimension.
        n: number of demonstrations.
        Sigma: feature covariance, shape (d, d), symmetric matrix of symbols ``Sigma_a_b``.
        A: covariance factor, shape (d, d), symbols ``A_a_b`` (``Σ = A Aᵀ``).
        Rbar: joint task correlation, shape (n+1, n+1), symmetric, query last.
        P: preconditioner, shape (d, d), unconstrained symbols.
        omega: token weights, shape (n, 1).
        sigma2: label-noise variance σ².
    """

    d: int
    n: int
    Sigma: sp.ImmutableMatrix
    A: sp.ImmutableMatrix
    Rbar: sp.ImmutableMatrix
    P: sp.ImmutableMatrix
    omega: sp.ImmutableMatrix
    sigma2: sp.Symbol

    @property
    def factor_substitution(self) -> dict[sp.Symbol, sp.Expr]:
        """``{Sigma_a_b: (A Aᵀ)_ab}``: maps the covariance parametrisation to the factor one."""
        AAt = self.A * self.A.T
        return {self.Sigma[a, b]: AAt[a, b] for a in range(self.d) for b in range(a, self.d)}

    def arguments(self, parametrization: str = "covariance") -> list[sp.Matrix | sp.Symbol]:
        """Symbolic arguments ``[Σ or A, R̄, P, ω, σ²]``, in the order :meth:`lambdify` takes them."""
        first = self.Sigma if parametrization == "covariance" else self.A
        return [first, self.Rbar, self.P, self.omega, self.sigma2]

    def lambdify(
        self, expr: sp.Expr, parametrization: str = "covariance"
    ) -> Callable[..., float]:
        """Compile an expression in these symbols to ``f(S, Rbar, P, omega, sigma2)``.

        ``S`` is Σ (shape (d, d)) or the factor A (shape (d, d)) according to
        ``parametrization``; ``Rbar`` shape (n+1, n+1); ``P`` (d, d); ``omega`` (n,).
        Symmetric arguments are read from their upper triangle.
        """
        covariance = parametrization == "covariance"
        first = self.Sigma if covariance else self.A
        iu_d, iu_n = np.triu_indices(self.d), np.triu_indices(self.n + 1)
        first_syms = [first[a, b] for a, b in zip(*iu_d)] if covariance else list(first)
        syms = (
            first_syms
            + [self.Rbar[a, b] for a, b in zip(*iu_n)]
            + list(self.P)
            + list(self.omega)
            + [self.sigma2]
        )
        f = sp.lambdify(syms, expr, modules="numpy", cse=True)

        def call(S, Rbar, P, omega, sigma2):
            S = np.asarray(S, dtype=np.float64)
            vals = (
                S[iu_d] if covariance else S.ravel(),
                np.asarray(Rbar, dtype=np.float64)[iu_n],
                np.asarray(P, dtype=np.float64).ravel(),
                np.asarray(omega, dtype=np.float64).ravel(),
            )
            return float(f(*itertools.chain(*vals), float(sigma2)))

        return call


@lru_cache(maxsize=None)
def explicit_symbols(d: int, n: int) -> ExplicitSymbols:
    """The symbol bundle for sizes ``d, n`` (cached, so symbols are shared by all callers)."""
    _check_sizes(d, n)

    def sym_matrix(name, k):
        return sp.ImmutableMatrix(
            k, k, lambda a, b: sp.Symbol(f"{name}_{min(a, b)}_{max(a, b)}")
        )

    return ExplicitSymbols(
        d=d,
        n=n,
        Sigma=sym_matrix("Sigma", d),
        A=sp.ImmutableMatrix(d, d, lambda a, b: sp.Symbol(f"A_{a}_{b}")),
        Rbar=sym_matrix("Rbar", n + 1),
        P=sp.ImmutableMatrix(d, d, lambda a, b: sp.Symbol(f"P_{a}_{b}")),
        omega=sp.ImmutableMatrix(n, 1, lambda i, _: sp.Symbol(f"omega_{i}")),
        sigma2=sp.Symbol("sigma2"),
    )


def _check_sizes(d: int, n: int) -> None:
    if int(d) != d or int(n) != n or d < 1 or n < 1:
        raise ValueError(f"need integers d ≥ 1 and n ≥ 1, got d={d!r}, n={n!r}")


@lru_cache(maxsize=None)
def _explicit_engine(d: int, n: int, latent: bool) -> tuple[GaussianMoments, dict]:
    """The Gaussian engine for sizes (d, n) and the ring elements the integrand is built from.

    ``latent=False``: the Gaussian variables are the features ``x_{s,a}`` themselves, with
    ``E[x_{s,a} x_{t,b}] = δ_st Σ_ab``. ``latent=True``: they are standard normals
    ``z_{s,e}`` and ``x_{s,a} = Σ_e A_ae z_{s,e}`` is a linear form with symbolic coefficients.
    """
    S = explicit_symbols(d, n)
    feat = "z" if latent else "x"
    g = {(s, a): sp.Symbol(f"{feat}_{s}_{a}") for s in range(n + 1) for a in range(d)}
    beta = {(s, a): sp.Symbol(f"beta_{s}_{a}") for s in range(n + 1) for a in range(d)}
    xi = {s: sp.Symbol(f"xi_{s}") for s in range(n + 1)}
    role = {v: ("x", *k) for k, v in g.items()}
    role.update({v: ("beta", *k) for k, v in beta.items()})
    role.update({v: ("xi", k, None) for k, v in xi.items()})

    def cov(u, v):
        (ku, su, au), (kv, sv, av) = role[u], role[v]
        if ku != kv or (ku != "beta" and su != sv):
            return 0
        if ku == "x":
            return int(au == av) if latent else S.Sigma[au, av]
        if ku == "beta":
            return S.Rbar[su, sv] if au == av else 0
        return S.sigma2

    coefficient_symbols = set(S.P) | set(S.omega) | (set(S.A) if latent else set())
    engine = GaussianMoments(list(role), cov, coefficient_symbols=coefficient_symbols)
    gen = dict(zip(engine.ring.symbols, engine.ring.gens))
    if latent:
        A = {(a, e): gen[S.A[a, e]] for a in range(d) for e in range(d)}
        x = {
            (s, a): sum(A[(a, e)] * gen[g[(s, e)]] for e in range(d))
            for s in range(n + 1)
            for a in range(d)
        }
    else:
        x = {k: gen[v] for k, v in g.items()}
    parts = {
        "x": x,
        "beta": {k: gen[v] for k, v in beta.items()},
        "xi": {k: gen[v] for k, v in xi.items()},
        "P": {(a, b): gen[S.P[a, b]] for a in range(d) for b in range(d)},
        "omega": {i: gen[S.omega[i]] for i in range(n)},
    }
    return engine, parts


@lru_cache(maxsize=None)
def _explicit_risk_poly(d: int, n: int, latent: bool = False):
    engine, g = _explicit_engine(d, n, latent)
    q = n  # the query's token index
    x, beta, xi, P, omega = g["x"], g["beta"], g["xi"], g["P"], g["omega"]
    labels = [sum((x[(i, c)] * beta[(i, c)] for c in range(d)), xi[i]) for i in range(n)]
    xP = [sum(x[(q, a)] * P[(a, b)] for a in range(d)) for b in range(d)]  # (xᵀP)_b
    y_hat = sum(
        omega[i] * labels[i] * sum(xP[b] * x[(i, b)] for b in range(d)) for i in range(n)
    )
    y = sum((x[(q, a)] * beta[(q, a)] for a in range(d)), xi[q])
    err = y_hat - y
    return engine.expectation_poly(err * err)


def explicit_risk(
    d: int, n: int, parametrization: str = "covariance"
) -> tuple[sp.Expr, ExplicitSymbols]:
    """Population risk ``E[(ŷ − y)²]`` at explicit sizes, every entry symbolic.

    Args:
        d: feature dimension (≥ 1).
        n: number of demonstrations (≥ 1).
        parametrization: ``"covariance"``: an expanded polynomial in the entries of a
            symmetric ``Σ`` (Gaussian variables: the features, ``E[x_a x_b] = Σ_ab``);
            ``"factor"``: the same with ``Σ = A Aᵀ`` substituted, left unexpanded;
            ``"latent"``: averaged over standard normals ``z`` with ``x = A z`` (an expanded
            polynomial in the entries of ``A``; an independent route, practical for d ≤ 2).

    Returns:
        ``(L, symbols)``: the risk, raw (units of y²), and the symbol bundle.
    """
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}")
    _check_sizes(d, n)
    d, n = int(d), int(n)
    S = explicit_symbols(d, n)
    if parametrization == "latent":
        return _explicit_risk_expr(d, n, True), S
    expr = _explicit_risk_expr(d, n, False)
    if parametrization == "factor":
        expr = expr.xreplace(S.factor_substitution)
    return expr, S


@lru_cache(maxsize=None)
def _explicit_risk_expr(d: int, n: int, latent: bool) -> sp.Expr:
    return _explicit_risk_poly(d, n, latent).as_expr()


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


@lru_cache(maxsize=None)
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
    out = []
    for s, t in itertools.product(terms, repeat=2):
        labels = {x for tt in t.tensors for x in tt.labels} | {
            x for f in t.fields for x in (f.token, f.feature) if x is not None
        }
        out.append(s * t.relabel({x: x + "'" for x in labels if x != "q"}))
    return out


@lru_cache(maxsize=None)
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


class TracePrinter(NumPyPrinter):
    """NumPy printer that also knows ``Trace`` (SymPy 1.14's NumPy printer does not)."""

    def _print_Trace(self, expr):
        return f"{self._module_format(self._module + '.trace')}({self._print(expr.arg)})"


def lambdify_trace(expr: sp.Expr, args: list) -> Callable:
    """``sympy.lambdify`` for matrix expressions containing ``Trace``."""
    return sp.lambdify(args, expr, modules="numpy", printer=TracePrinter)


def split_rbar(Rbar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Split R̄ (shape (n+1, n+1), query last) into ``R (n,n), D_R (n,n), r (n,1), r_q``."""
    Rbar = np.asarray(Rbar, dtype=np.float64)
    n = Rbar.shape[0] - 1
    R = Rbar[:n, :n]
    return R, np.diag(np.diag(R)), Rbar[:n, n : n + 1], float(Rbar[n, n])


@lru_cache(maxsize=None)
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


def trace_form_at(d: int, n: int, parametrization: str = "covariance") -> sp.Expr:
    """The trace-form risk with the explicit matrices of :func:`explicit_symbols` substituted.

    Returns:
        A scalar SymPy expression (not expanded) in the explicit symbols.
    """
    expr, T = trace_form_risk()
    S = explicit_symbols(d, n)
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}")
    sigma = S.Sigma if parametrization == "covariance" else S.A * S.A.T
    R = S.Rbar[:n, :n]
    sub = {
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
    return expr.xreplace(sub).doit()


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
