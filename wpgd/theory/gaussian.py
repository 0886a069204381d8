"""Exact moments of zero-mean jointly Gaussian variables (Isserlis / Wick).

For zero-mean jointly Gaussian ``g_1, …, g_m`` with covariances ``C_uv = E[g_u g_v]``,
Isserlis' theorem gives

    E[g_{u_1} ⋯ g_{u_{2k}}] = Σ_{perfect matchings π} Π_{(a,b) ∈ π} C_{u_a u_b},

and every odd moment is zero. Two modes are provided.

*Scalar mode* (:class:`GaussianMoments`): the variables are SymPy symbols and ``C`` is a
mapping or a callable returning SymPy expressions. A polynomial is expanded monomial by
monomial in a sparse polynomial ring; each monomial is split into independent blocks
(connected components of the graph ``C_uv ≠ 0``), and each block moment is computed by the
recursion that pairs the first factor with every other one,

    E[g_u · m] = Σ_v C_uv · ∂m/∂g_v   (as a sum over the remaining factors),

memoised on the block's exponent vector, so repeated monomials cost a dictionary look-up.

*Index mode* (:func:`wick_expectation`): the factors are components of Gaussian vector fields
carrying symbolic labels (a token label and a feature label), as in Einstein notation, and a
covariance rule returns the pairing of two such components as an :class:`IndexTerm` (e.g.
``δ_st Σ_ab`` for features of tokens ``s, t``). The expectation is the list of all Wick
pairings, each a product of constant tensors and Kronecker deltas; turning those tensor
networks into traces and quadratic forms is the job of :mod:`wpgd.theory.contraction`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from math import prod

import sympy as sp
from sympy.polys.domains import EX, QQ
from sympy.polys.polyerrors import CoercionFailed, GeneratorsError
from sympy.polys.rings import PolyElement, PolyRing

__all__ = [
    "GaussianMoments",
    "gaussian_expectation",
    "Field",
    "Tensor",
    "IndexTerm",
    "perfect_matchings",
    "wick_expectation",
]

CovSpec = Mapping[tuple[sp.Symbol, sp.Symbol], sp.Expr] | Callable[[sp.Symbol, sp.Symbol], sp.Expr]


class GaussianMoments:
    """Exact expectations of polynomials in zero-mean jointly Gaussian scalars.

    Args:
        variables: the Gaussian variables, SymPy symbols ``g_1..g_m``.
        cov: covariances, either a callable ``cov(u, v) -> Expr`` or a mapping with keys
            ``(u, v)`` (either order; missing pairs are 0). Must be symmetric.
        coefficient_symbols: further symbols that may appear in coefficients of the
            polynomials passed to :meth:`expectation` (others are added on demand).

    >>> a, b = sp.symbols("a b")
    >>> s = sp.Symbol("s", positive=True)
    >>> GaussianMoments([a, b], {(a, a): s, (b, b): 1, (a, b): 0}).expectation(a**4 * b**2)
    3*s**2
    """

    def __init__(
        self,
        variables: Sequence[sp.Symbol],
        cov: CovSpec,
        coefficient_symbols: Iterable[sp.Symbol] = (),
    ) -> None:
        self.variables = tuple(variables)
        if len(set(self.variables)) != len(self.variables):
            raise ValueError("Gaussian variables must be distinct")
        m = len(self.variables)
        get = _cov_getter(cov)
        entries: dict[tuple[int, int], sp.Expr] = {}
        for i in range(m):
            for j in range(i, m):
                cij = sp.sympify(get(self.variables[i], self.variables[j]))
                if i != j:
                    cji = sp.sympify(get(self.variables[j], self.variables[i]))
                    if sp.expand(cij - cji) != 0:
                        raise ValueError(
                            f"covariance is not symmetric for {self.variables[i]}, {self.variables[j]}"
                        )
                if cij != 0:
                    entries[(i, j)] = cij
        self._cov_entries = entries
        self.blocks = _connected_components(m, entries)
        params = set(coefficient_symbols)
        for c in entries.values():
            params |= c.free_symbols
        if params & set(self.variables):
            raise ValueError("covariances may not depend on the Gaussian variables")
        self._build_ring(params)

    def _build_ring(self, params: set[sp.Symbol]) -> None:
        self.params = tuple(sorted(params, key=sp.default_sort_key))
        gens = self.variables + self.params
        try:
            ring = PolyRing(gens, QQ)
            cov = {k: ring.from_expr(v) for k, v in self._cov_entries.items()}
        except (CoercionFailed, GeneratorsError, ValueError):
            ring = PolyRing(gens, EX)
            cov = {k: ring.from_expr(v) for k, v in self._cov_entries.items()}
        self.ring = ring
        self._cov = cov
        self._block_of = {}
        for b, block in enumerate(self.blocks):
            for pos, var in enumerate(block):
                self._block_of[var] = (b, pos)
        self._block_cov = []
        for block in self.blocks:
            k = len(block)
            mat = [[ring.zero] * k for _ in range(k)]
            for p in range(k):
                for q in range(k):
                    key = (min(block[p], block[q]), max(block[p], block[q]))
                    mat[p][q] = cov.get(key, ring.zero)
            self._block_cov.append(mat)
        self._memo: list[dict[tuple[int, ...], PolyElement]] = [{} for _ in self.blocks]

    @property
    def cache_size(self) -> int:
        """Number of memoised block moments."""
        return sum(len(m) for m in self._memo)

    def moment(self, exponents: Mapping[sp.Symbol, int]) -> sp.Expr:
        """``E[Π g^e]`` for a monomial given as ``{variable: exponent}``."""
        idx = {v: i for i, v in enumerate(self.variables)}
        exps = [0] * len(self.variables)
        for v, e in exponents.items():
            exps[idx[v]] = int(e)
        return (self._monomial_moment(tuple(exps))).as_expr()

    def expectation(self, expr: sp.Expr) -> sp.Expr:
        """Exact expectation of a polynomial in the Gaussian variables.

        Args:
            expr: polynomial in the Gaussian variables (any form, not necessarily expanded)
                with coefficients polynomial in other symbols.

        Returns:
            ``E[expr]`` as an expanded SymPy expression.
        """
        expr = sp.sympify(expr)
        extra = expr.free_symbols - set(self.variables) - set(self.params)
        if extra:
            self._build_ring(set(self.params) | extra)
        return (self.expectation_poly(self.ring.from_expr(expr))).as_expr()

    def expectation_poly(self, poly: PolyElement) -> PolyElement:
        """Expectation of an element of :attr:`ring`; returns an element of :attr:`ring`.

        This is the fast path: build the integrand with ring arithmetic, get a ring element.
        """
        k = len(self.variables)
        groups: dict[tuple[int, ...], dict[tuple[int, ...], object]] = defaultdict(dict)
        zeros = (0,) * k
        for monom, coeff in poly.items():
            groups[monom[:k]][zeros + monom[k:]] = coeff
        result = self.ring.zero
        for gexp, terms in groups.items():
            mom = self._monomial_moment(gexp)
            if mom:
                result += self.ring.from_dict(terms) * mom
        return result

    def _monomial_moment(self, exps: tuple[int, ...]) -> PolyElement:
        if sum(exps) % 2:
            return self.ring.zero
        result = self.ring.one
        for b, block in enumerate(self.blocks):
            sub = tuple(exps[i] for i in block)
            if any(sub):
                mom = self._block_moment(b, sub)
                if not mom:
                    return self.ring.zero
                result = result * mom
        return result

    def _block_moment(self, b: int, exps: tuple[int, ...]) -> PolyElement:
        memo = self._memo[b]
        hit = memo.get(exps)
        if hit is not None:
            return hit
        total = sum(exps)
        if total == 0:
            val = self.ring.one
        elif total % 2:
            val = self.ring.zero
        else:
            cov = self._block_cov[b]
            u = next(i for i, e in enumerate(exps) if e)
            rest = list(exps)
            rest[u] -= 1
            val = self.ring.zero
            for v, ev in enumerate(rest):
                if ev and cov[u][v]:
                    nxt = rest.copy()
                    nxt[v] -= 1
                    sub = self._block_moment(b, tuple(nxt))
                    if sub:
                        val += ev * cov[u][v] * sub
        memo[exps] = val
        return val


def gaussian_expectation(expr: sp.Expr, variables: Sequence[sp.Symbol], cov: CovSpec) -> sp.Expr:
    """One-shot :meth:`GaussianMoments.expectation` (builds a fresh engine)."""
    return GaussianMoments(variables, cov).expectation(expr)


def _cov_getter(cov: CovSpec) -> Callable[[sp.Symbol, sp.Symbol], sp.Expr]:
    if callable(cov):
        return cov
    table = dict(cov)

    def get(u, v):
        if (u, v) in table:
            return table[(u, v)]
        return table.get((v, u), 0)

    return get


def _connected_components(m: int, entries: Mapping[tuple[int, int], object]) -> list[tuple[int, ...]]:
    parent = list(range(m))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in entries:
        parent[find(i)] = find(j)
    comps: dict[int, list[int]] = defaultdict(list)
    for i in range(m):
        comps[find(i)].append(i)
    return [tuple(c) for c in comps.values()]


@dataclass(frozen=True)
class Field:
    """One component of a Gaussian vector field in index notation.

    Attributes:
        name: which field (e.g. ``"x"`` features, ``"beta"`` task vector, ``"xi"`` noise).
        token: token label (a summation label such as ``"i"``, or a fixed one such as ``"q"``).
        feature: feature label (summed, Einstein convention), or None for a scalar field.
    """

    name: str
    token: str
    feature: str | None = None


@dataclass(frozen=True)
class Tensor:
    """A constant tensor entry ``name[labels]`` (e.g. ``P[a, b]``, ``omega[i]``, ``delta[a, b]``)."""

    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class IndexTerm:
    """``coeff · Π tensors · Π fields`` with every repeated label summed.

    Attributes:
        coeff: scalar SymPy coefficient.
        tensors: constant tensor entries.
        fields: Gaussian field components (empty after taking the expectation).
    """

    coeff: sp.Expr
    tensors: tuple[Tensor, ...] = ()
    fields: tuple[Field, ...] = ()

    def __mul__(self, other: IndexTerm) -> IndexTerm:
        return IndexTerm(
            self.coeff * other.coeff, self.tensors + other.tensors, self.fields + other.fields
        )

    def relabel(self, mapping: Mapping[str, str]) -> IndexTerm:
        """Rename labels (tokens and features alike); unmapped labels are kept."""
        ren = lambda s: mapping.get(s, s)  # noqa: E731
        return IndexTerm(
            self.coeff,
            tuple(Tensor(t.name, tuple(ren(x) for x in t.labels)) for t in self.tensors),
            tuple(
                Field(f.name, ren(f.token), None if f.feature is None else ren(f.feature))
                for f in self.fields
            ),
        )


def perfect_matchings(items: Sequence[int]) -> Iterator[list[tuple[int, int]]]:
    """All perfect matchings of ``items`` ((2k−1)!! of them; none if the count is odd)."""
    items = list(items)
    if not items:
        yield []
        return
    if len(items) % 2:
        return
    first, rest = items[0], items[1:]
    for k, partner in enumerate(rest):
        remaining = rest[:k] + rest[k + 1 :]
        for m in perfect_matchings(remaining):
            yield [(first, partner)] + m


def wick_expectation(
    term: IndexTerm, cov_rule: Callable[[Field, Field], IndexTerm | None]
) -> list[IndexTerm]:
    """Expectation of an index-notation monomial by Wick pairings.

    Fields with different ``name`` are taken independent (their pairings are never formed);
    within a name, ``cov_rule(f, g)`` gives the covariance of two components as an
    :class:`IndexTerm` without fields (None for zero).

    Args:
        term: the monomial; its ``fields`` are averaged, its tensors and coefficient kept.
        cov_rule: the covariance of two field components.

    Returns:
        One field-free :class:`IndexTerm` per non-vanishing Wick pairing (their sum is the
        expectation; an empty list means zero).
    """
    by_name: dict[str, list[int]] = defaultdict(list)
    for k, f in enumerate(term.fields):
        by_name[f.name].append(k)
    per_block: list[list[IndexTerm]] = []
    for idx in by_name.values():
        options = []
        for matching in perfect_matchings(idx):
            pieces = [cov_rule(term.fields[a], term.fields[b]) for a, b in matching]
            if any(p is None for p in pieces):
                continue
            options.append(_product(pieces))
        if not options:
            return []
        per_block.append(options)
    base = IndexTerm(term.coeff, term.tensors, ())
    out = [base]
    for options in per_block:
        out = [o * p for o in out for p in options]
    return out


def _product(terms: Sequence[IndexTerm]) -> IndexTerm:
    return IndexTerm(
        prod((t.coeff for t in terms), start=sp.Integer(1)),
        tuple(x for t in terms for x in t.tensors),
        tuple(x for t in terms for x in t.fields),
    )
