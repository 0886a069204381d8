"""Gradient of the derived risk by matrix calculus, checked against entrywise differentiation.

With the convention ``dL = tr(G_Pᵀ dP) + G_ωᵀ dω`` (so ``(G_P)_ab = ∂L/∂P_ab``), SymPy's
matrix-calculus rules (``MatrixExpr.diff``) are applied term by term to the trace form of
:func:`wpgd.theory.risk.trace_form_risk`; transposes of the symmetric ``Σ, R, D_R`` are dropped
and traces are canonicalised (:func:`wpgd.theory.contraction.canonicalize_traces`), so that like
terms combine. The result is compared entry by entry with ``∂/∂P_ab`` and ``∂/∂ω_i`` of the
explicit-size polynomial of :func:`wpgd.theory.risk.explicit_risk` (an exact polynomial identity).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import sympy as sp
from sympy.polys.rings import PolyRing

from .codegen import lambdify_trace, split_rbar
from .contraction import canonicalize_traces
from .explicit import explicit_risk
from .risk import TraceSymbols, explicit_substitution, trace_form_risk

__all__ = [
    "symmetric_cleanup",
    "matrix_derivative",
    "risk_gradient",
    "gradient_at",
    "gradient_minus_explicit",
    "check_gradient",
    "compiled_risk_gradient",
]


def symmetric_cleanup(expr, T: TraceSymbols | None = None):
    """Drop transposes of the symmetric symbols (Σ, R, D_R) and canonicalise every trace."""
    if T is None:
        _, T = trace_form_risk()
    sym = (T.Sigma, T.R, T.D_R)
    expr = expr.xreplace({s.T: s for s in sym})
    return canonicalize_traces(expr, frozenset(sym)).doit()


def matrix_derivative(expr: sp.Expr, X: sp.MatrixSymbol) -> sp.MatrixExpr:
    """``∂expr/∂X`` for a scalar expression, term by term (SymPy 1.14 returns 0 for some sums).

    Returns:
        A matrix expression of the shape of ``X`` (a ``ZeroMatrix`` if independent of X).
    """
    parts = []
    for term in sp.Add.make_args(sp.expand(expr)):
        g = term.diff(X)
        if getattr(g, "is_Matrix", False) and not isinstance(g, sp.ZeroMatrix):
            parts.append(g)
    if not parts:
        return sp.ZeroMatrix(*X.shape)
    return symmetric_cleanup(sp.MatAdd(*parts).doit())


@cache
def risk_gradient() -> tuple[sp.MatrixExpr, sp.MatrixExpr, TraceSymbols]:
    """``(G_P, G_ω, symbols)``: the gradient of the trace-form risk.

    ``G_P`` is d×d with ``(G_P)_ab = ∂L/∂P_ab``; ``G_ω`` is n×1.
    """
    L, T = trace_form_risk()
    return matrix_derivative(L, T.P), matrix_derivative(L, T.omega), T


def gradient_at(
    d: int, n: int, parametrization: str = "covariance"
) -> tuple[sp.ImmutableMatrix, sp.ImmutableMatrix]:
    """The matrix-calculus gradient with explicit symbolic matrices substituted.

    Returns:
        ``(G_P, G_ω)`` as explicit SymPy matrices of shapes (d, d) and (n, 1).
    """
    gP, gw, _ = risk_gradient()
    sub = explicit_substitution(d, n, parametrization)
    out = []
    for g in (gP, gw):
        val = g.xreplace(sub).doit()
        out.append(sp.ImmutableMatrix(val.as_explicit() if hasattr(val, "as_explicit") else val))
    return out[0], out[1]


def gradient_minus_explicit(d: int, n: int) -> tuple[sp.ImmutableMatrix, sp.ImmutableMatrix]:
    """Expanded differences between the matrix-calculus gradient and ``∂/∂(entries)``.

    The explicit risk is differentiated entrywise in a sparse polynomial ring (exact).

    Returns:
        ``(ΔP, Δω)`` of shapes (d, d) and (n, 1); all zero iff the two gradients agree.
    """
    L, S = explicit_risk(d, n)
    gP, gw = gradient_at(d, n)
    gens = sorted(L.free_symbols | gP.free_symbols | gw.free_symbols, key=sp.default_sort_key)
    ring = PolyRing(gens, sp.QQ)
    Lp = ring.from_expr(L)
    gen = dict(zip(ring.symbols, ring.gens))

    def diff(sym, matrix_entry):
        return (Lp.diff(gen[sym]) - ring.from_expr(matrix_entry)).as_expr()

    dP = sp.ImmutableMatrix(d, d, lambda a, b: diff(S.P[a, b], gP[a, b]))
    dw = sp.ImmutableMatrix(n, 1, lambda i, _: diff(S.omega[i], gw[i, 0]))
    return dP, dw


def check_gradient(d: int, n: int) -> bool:
    """True iff the matrix-calculus gradient equals the entrywise one at sizes ``d, n``."""
    dP, dw = gradient_minus_explicit(d, n)
    return dP.is_zero_matrix and dw.is_zero_matrix


@cache
def compiled_risk_gradient() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Compile the gradient to ``f(Sigma, Rbar, P, omega, sigma2) -> (G_P, G_ω)``.

    Args of the callable: ``Sigma`` (d, d); ``Rbar`` (n+1, n+1), query last; ``P`` (d, d);
    ``omega`` (n,); ``sigma2`` float. Returns ``G_P`` shape (d, d) with
    ``(G_P)_ab = ∂L/∂P_ab`` and ``G_ω`` shape (n,), both float64.
    """
    gP, gw, T = risk_gradient()
    fP = lambdify_trace(gP, T.arguments)
    fw = lambdify_trace(gw, T.arguments)

    def gradient(Sigma, Rbar, P, omega, sigma2):
        R, D_R, r, r_q = split_rbar(Rbar)
        args = (
            np.asarray(Sigma, dtype=np.float64), R, D_R, r, r_q,
            np.asarray(P, dtype=np.float64),
            np.asarray(omega, dtype=np.float64).reshape(-1, 1), float(sigma2),
        )
        return np.asarray(fP(*args), dtype=np.float64), np.asarray(fw(*args), dtype=np.float64).ravel()

    return gradient
