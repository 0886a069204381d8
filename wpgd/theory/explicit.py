"""The WPGD risk at explicit sizes, every entry a symbol, by the scalar Wick engine.

Model (docs/theory.md §3): features ``x_1..x_n, x ~ N(0, Σ)`` i.i.d.; tasks ``(β_1..β_n, β)``
jointly Gaussian, independent of the features, ``E[β_s β_tᵀ] = R̄_st I_d`` (query last);
labels ``y_i = x_iᵀβ_i + ξ_i``, ``y = xᵀβ + ξ``, ``ξ ~ N(0, σ²)``. Predictor
``ŷ = xᵀ P Xᵀ(ω ⊙ y)``; risk ``L = E[(ŷ − y)²]``.

At sizes ``d, n`` the integrand is built with ring arithmetic from symbols for every feature,
task and noise coordinate, and averaged by :class:`wpgd.theory.gaussian.GaussianMoments`:

* ``covariance``: the Gaussian variables are the features, ``E[x_{s,a} x_{t,b}] = δ_st Σ_ab``
  with ``Σ`` a symmetric matrix of symbols; the result is an expanded polynomial;
* ``factor``: the same polynomial with ``Σ = A Aᵀ`` substituted (left unexpanded);
* ``latent``: the Gaussian variables are standard normals ``z`` and ``x = A z`` is a linear
  form with symbolic coefficients: an independent route, expanded in the entries of ``A``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .gaussian import GaussianMoments

__all__ = ["PARAMETRIZATIONS", "ExplicitSymbols", "explicit_symbols", "explicit_risk"]

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


@cache
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


@cache
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


@cache
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


@cache
def _explicit_risk_expr(d: int, n: int, latent: bool) -> sp.Expr:
    return _explicit_risk_poly(d, n, latent).as_expr()
