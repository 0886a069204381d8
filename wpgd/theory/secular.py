"""Secular-like functions of the stationarity conditions (docs/theory.md §5), derived with SymPy sums.

For a discrete measure with atoms ``e_k`` and masses ``w_k ≥ 0`` (k = 1..m) let

    S_j(t) = Σ_k w_k e_k^j / (e_k + t)²,        φ(t) = S_0(t) / S_1(t).

``φ_Σ`` has atoms the eigenvalues λ_j of Σ and masses λ_j²; ``φ_R`` has atoms the generalised
eigenvalues ρ_k of ``M1 v = ρ M2 v`` (``vᵀM2v = 1``) and masses ``s_k² = (v_kᵀ r)²``.
The sums are kept as SymPy ``Sum`` objects over an ``IndexedBase`` with a symbolic number of
atoms ``m``, differentiated symbolically (``φ'``, the log–log elasticity ``ε = t φ'/φ``, the
composition ``Γ = φ_R ∘ φ_Σ``, ``Γ'``, ``ε_Γ``), and compiled by a printer that turns
``Sum_k f(e_k, w_k)`` into ``numpy.sum(f(e, w), axis=-1, keepdims=True)`` over atom arrays.

Monotonicity certificate (derived, checked by :func:`phi_derivative_certificate`):

    φ'(t) · S_1(t)² = −2 Σ_{k<l} w_k w_l (e_k − e_l)² / ((e_k + t)³ (e_l + t)³),

so ``φ`` is non-increasing wherever all ``e_k + t > 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .codegen import TracePrinter

__all__ = [
    "PhiExpressions",
    "phi_expressions",
    "phi_explicit",
    "phi_derivative_certificate",
    "CompositionExpressions",
    "composition_expressions",
    "composition_elasticity_identity",
    "compiled_phi",
    "compiled_phi_derivative",
    "compiled_elasticity",
    "compiled_composition",
]


@dataclass(frozen=True)
class PhiExpressions:
    """``φ``, ``φ'`` and ``ε = tφ'/φ`` for a measure ``(atoms[k], masses[k])_{k<m}``.

    Attributes:
        phi, derivative, elasticity: SymPy expressions with ``Sum`` over ``k``.
        t: the argument.  atoms, masses: IndexedBase.  k: summation index.  m: atom count.
    """

    phi: sp.Expr
    derivative: sp.Expr
    elasticity: sp.Expr
    t: sp.Symbol
    atoms: sp.IndexedBase
    masses: sp.IndexedBase
    k: sp.Symbol
    m: sp.Symbol


def _phi(t, atoms, masses, k, m) -> sp.Expr:
    s0 = sp.Sum(masses[k] / (atoms[k] + t) ** 2, (k, 0, m - 1))
    s1 = sp.Sum(masses[k] * atoms[k] / (atoms[k] + t) ** 2, (k, 0, m - 1))
    return s0 / s1


@cache
def phi_expressions(prefix: str = "") -> PhiExpressions:
    """The generic secular-like function and its derivatives.

    Args:
        prefix: prepended to the names of the atom/mass arrays and indices, so that two
            independent measures (e.g. ``"sigma_"`` and ``"r_"``) can appear in one formula.
    """
    t = sp.Symbol("t", real=True)
    atoms, masses = sp.IndexedBase(f"{prefix}atoms"), sp.IndexedBase(f"{prefix}masses")
    k = sp.Symbol(f"{prefix}k", integer=True, nonnegative=True)
    m = sp.Symbol(f"{prefix}m", integer=True, positive=True)
    phi = _phi(t, atoms, masses, k, m)
    dphi = phi.diff(t)
    return PhiExpressions(phi, dphi, t * dphi / phi, t, atoms, masses, k, m)


def phi_explicit(m: int, t: sp.Expr, atoms, masses) -> sp.Expr:
    """``φ(t)`` with ``m`` explicit atoms/masses (sequences of SymPy expressions)."""
    E = phi_expressions()
    sub = E.phi.subs(E.m, m).doit()
    return sub.xreplace(
        {E.t: t}
        | {E.atoms[i]: atoms[i] for i in range(m)}
        | {E.masses[i]: masses[i] for i in range(m)}
    )


def phi_derivative_certificate(m: int) -> sp.Expr:
    """``φ'·S_1² + 2 Σ_{k<l} w_k w_l (e_k − e_l)² / ((e_k+t)³(e_l+t)³)``, simplified.

    Zero for every ``m`` checked; it certifies that ``φ`` is non-increasing for ``t > −min e``.
    """
    E = phi_expressions()
    e = sp.symbols(f"e0:{m}", real=True)
    w = sp.symbols(f"w0:{m}", nonnegative=True)
    t = E.t
    sub = {E.m: m}
    dphi = E.derivative.subs(sub).doit()
    dphi = dphi.xreplace({E.atoms[i]: e[i] for i in range(m)} | {E.masses[i]: w[i] for i in range(m)})
    s1 = sum(w[i] * e[i] / (e[i] + t) ** 2 for i in range(m))
    square_sum = sum(
        w[i] * w[j] * (e[i] - e[j]) ** 2 / ((e[i] + t) ** 3 * (e[j] + t) ** 3)
        for i in range(m)
        for j in range(i + 1, m)
    )
    return sp.simplify(sp.together(dphi * s1**2 + 2 * square_sum))


@dataclass(frozen=True)
class CompositionExpressions:
    """``Γ(γ) = φ_R(φ_Σ(γ))``, ``Γ'`` and ``ε_Γ = γΓ'/Γ`` (nested sums)."""

    value: sp.Expr
    derivative: sp.Expr
    elasticity: sp.Expr
    gamma: sp.Symbol
    sigma: PhiExpressions
    r: PhiExpressions


@cache
def composition_expressions() -> CompositionExpressions:
    """The composition of the two secular-like functions and its derivatives."""
    S, R = phi_expressions("sigma_"), phi_expressions("r_")
    gamma = sp.Symbol("gamma", real=True)
    inner = S.phi.xreplace({S.t: gamma})
    value = R.phi.xreplace({R.t: inner})
    deriv = value.diff(gamma)
    return CompositionExpressions(value, deriv, gamma * deriv / value, gamma, S, R)


def composition_elasticity_identity() -> sp.Expr:
    """``ε_{f∘g}(γ) − ε_f(g(γ))·ε_g(γ)`` for generic functions, simplified (the chain rule)."""
    gamma, x = sp.symbols("gamma x", positive=True)
    f, g = sp.Function("f"), sp.Function("g")
    comp = f(g(gamma))
    eps_comp = gamma * comp.diff(gamma) / comp
    eps_f = (x * f(x).diff(x) / f(x)).subs(x, g(gamma))
    eps_g = gamma * g(gamma).diff(gamma) / g(gamma)
    return sp.simplify(eps_comp - eps_f * eps_g)


class _ArrayPrinter(TracePrinter):
    """Prints ``Sum_k f(x[k])`` as ``numpy.sum(f(x), axis=-1, keepdims=True)``."""

    def _print_Sum(self, expr):
        (k, _, _), = expr.limits
        if not any(k in i.indices for i in expr.function.atoms(sp.Indexed)):
            raise NotImplementedError("summand does not depend on the atom index")
        body = self._print(expr.function)
        return f"{self._module_format(self._module + '.sum')}({body}, axis=-1, keepdims=True)"

    def _print_Indexed(self, expr):
        return self._print(expr.base.label)


def _lambdify_arrays(expr: sp.Expr, args: list) -> Callable:
    return sp.lambdify(args, expr, modules="numpy", printer=_ArrayPrinter)


def _squeeze(out) -> np.ndarray | float:
    out = np.asarray(out, dtype=np.float64)[..., 0]
    return float(out) if out.ndim == 0 else out


def _compile_phi(which: str) -> Callable:
    E = phi_expressions()
    f = _lambdify_arrays(getattr(E, which), [E.t, E.atoms.label, E.masses.label])

    def call(t, atoms, masses):
        t = np.asarray(t, dtype=np.float64)[..., None]
        return _squeeze(
            f(t, np.asarray(atoms, dtype=np.float64), np.asarray(masses, dtype=np.float64))
        )

    call.__doc__ = (
        f"Compiled {which} of φ: f(t, atoms, masses). t: scalar or shape (...); atoms, masses: "
        "shape (m,) or (..., m) broadcasting against t. Returns shape (...) (float if scalar)."
    )
    return call


@cache
def compiled_phi() -> Callable:
    """``f(t, atoms, masses) -> φ(t)``, vectorised over ``t`` (shape (...)) and atom arrays (m,)."""
    return _compile_phi("phi")


@cache
def compiled_phi_derivative() -> Callable:
    """``f(t, atoms, masses) -> φ'(t)`` (same shapes as :func:`compiled_phi`)."""
    return _compile_phi("derivative")


@cache
def compiled_elasticity() -> Callable:
    """``f(t, atoms, masses) -> t φ'(t)/φ(t)`` (same shapes as :func:`compiled_phi`)."""
    return _compile_phi("elasticity")


@cache
def compiled_composition() -> Callable:
    """``f(γ, σ_atoms, σ_masses, r_atoms, r_masses) -> (Γ, Γ', ε_Γ)`` with ``Γ = φ_R∘φ_Σ``.

    ``γ`` scalar or shape (...); atom/mass arrays shape (m_Σ,) and (m_R,). Each output has
    the shape of ``γ``.
    """
    C = composition_expressions()
    args = [C.gamma, C.sigma.atoms.label, C.sigma.masses.label, C.r.atoms.label, C.r.masses.label]
    fs = [_lambdify_arrays(e, args) for e in (C.value, C.derivative, C.elasticity)]

    def call(gamma, sigma_atoms, sigma_masses, r_atoms, r_masses):
        g = np.asarray(gamma, dtype=np.float64)[..., None]
        arrs = [np.asarray(a, dtype=np.float64) for a in (sigma_atoms, sigma_masses, r_atoms, r_masses)]
        return tuple(_squeeze(f(g, *arrs)) for f in fs)

    return call
