"""Exact Gaussian expectations for users: vectors and matrices with symbolic covariances.

This is the user-facing front end of the Wick/Isserlis engine in :mod:`wpgd.theory.gaussian`
(the same engine that derives the WPGD risk in :mod:`wpgd.theory.explicit` and
:mod:`wpgd.theory.risk`); it adds no second engine, only a way to declare Gaussian *vectors and
matrices* and their covariances instead of individual scalars.

Explicit sizes
--------------
Declare the jointly Gaussian, zero-mean objects of your model in a :class:`JointGaussian`;
each declaration returns a SymPy ``Matrix`` of fresh scalar symbols that you then use in any
polynomial expression (matrix products, transposes, traces, Hadamard products …).
Covariances are SymPy matrices whose entries may be symbols:

* ``vector(name, k, cov)`` — ``v ~ N(0, cov)``, ``cov`` k×k;
* ``matrix(name, rows, cols, row_cov, col_cov)`` — ``E[M_ij M_kl] = row_cov_ik col_cov_jl``
  (a matrix-normal: e.g. n i.i.d. feature rows ``x_i ~ N(0, Σ)`` are ``row_cov = I``,
  ``col_cov = Σ``; n task vectors with ``E[β_i β_jᵀ] = R̄_ij I`` are ``row_cov = R̄``,
  ``col_cov = I``);
* ``correlate(u, v, cross)`` — ``E[u vᵀ] = cross`` between two declared vectors
  (objects not correlated explicitly are independent).

``expectation(expr)`` returns the exact expectation, an expanded polynomial in the covariance
symbols and in any other symbols (constants such as a mean shift or a preconditioner) in
``expr``. Odd moments vanish; non-zero means are written as ``μ + (zero-mean Gaussian)``.

>>> import sympy as sp
>>> from wpgd.theory.expectation import JointGaussian, symmetric_matrix
>>> S = symmetric_matrix("S", 2)                    # a symbolic 2×2 covariance
>>> G = JointGaussian()
>>> x = G.vector("x", 2, S)
>>> A = sp.Matrix(2, 2, sp.symbols("A:4"))
>>> sp.expand(G.expectation((x.T * A * x)[0]) - (A * S).trace())
0
>>> G.expectation(x[0] ** 4)                         # Isserlis: 3 Σ_00²
3*S_0_0**2

The fourth moment ``E[x xᵀ A x xᵀ] = Σ(A + Aᵀ)Σ + tr(AΣ) Σ`` (used by the WPGD risk) at d = 2:

>>> lhs = (x * x.T * A * x * x.T).applyfunc(G.expectation)
>>> rhs = S * (A + A.T) * S + (A * S).trace() * S
>>> sp.expand(lhs - rhs) == sp.zeros(2, 2)
True

Matrices: three i.i.d. rows with covariance ``s`` (1-dimensional features) and an
independent task with variance ``t``:

>>> s, t = sp.symbols("s t", positive=True)
>>> X = G.matrix("X", 3, 1, row_cov=sp.eye(3), col_cov=sp.Matrix([[s]]))
>>> b = G.vector("b", 1, sp.Matrix([[t]]))
>>> G.expectation(((X * b).T * (X * b))[0])       # E‖Xβ‖² = n s t
3*s*t

General sizes (trace form)
--------------------------
For symbolic ``d`` and ``n`` the engine works in index notation
(:func:`wpgd.theory.gaussian.wick_expectation`) and the pairings are contracted into traces by
:mod:`wpgd.theory.contraction`; :func:`trace_expectation` does both. For example ``E[(xᵀAx)(xᵀBx)]``
for ``x ~ N(0, Σ)`` in any dimension (``q`` is a fixed token label: one vector):

>>> from wpgd.theory.gaussian import Field, IndexTerm, Tensor
>>> from wpgd.theory.contraction import TOKEN_DELTA, ContractionSpec
>>> d = sp.Symbol("d", integer=True, positive=True)
>>> Sig, A_, B_ = (sp.MatrixSymbol(k, d, d) for k in ("Sigma", "A", "B"))
>>> spec = ContractionSpec(d, {"Sigma": Sig, "A": A_, "B": B_}, frozenset({"Sigma"}),
...                        sp.Integer(0), {})
>>> term = IndexTerm(sp.Integer(1), (Tensor("A", ("a", "b")), Tensor("B", ("c", "e"))),
...                  tuple(Field("x", "q", k) for k in "abce"))
>>> rule = lambda f, g: IndexTerm(sp.Integer(1), (Tensor(TOKEN_DELTA, (f.token, g.token)),
...                                               Tensor("Sigma", (f.feature, g.feature))))
>>> trace_expectation([term], rule, spec)
Trace(A*Sigma)*Trace(B*Sigma) + Trace(A*Sigma*B*Sigma) + Trace(A*Sigma*B.T*Sigma)

The WPGD risk itself is derived this way in :func:`wpgd.theory.risk.trace_form_risk` (tokens
summed over 1..n with ``R, D_R = diag R, r, r_q``); the trace form is available where every
token network is a union of paths and cycles (the contraction raises
``NotImplementedError`` otherwise), and the explicit-size path always works.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence

import sympy as sp

from .contraction import ContractionSpec, contract_sum
from .gaussian import Field, GaussianMoments, IndexTerm, Tensor, wick_expectation  # noqa: F401 (Tensor: doctests)

__all__ = ["JointGaussian", "symmetric_matrix", "square_terms", "trace_expectation"]


def symmetric_matrix(name: str, k: int) -> sp.ImmutableMatrix:
    """A k×k symmetric matrix of symbols ``name_a_b`` (a ≤ b), e.g. a symbolic covariance.

    >>> symmetric_matrix("S", 2)
    Matrix([
    [S_0_0, S_0_1],
    [S_0_1, S_1_1]])
    """
    return sp.ImmutableMatrix(k, k, lambda a, b: sp.Symbol(f"{name}_{min(a, b)}_{max(a, b)}"))


def _as_matrix(value, rows: int, cols: int, what: str) -> sp.ImmutableMatrix:
    m = sp.ImmutableMatrix(value)
    if m.shape != (rows, cols):
        raise ValueError(f"{what} must be {rows}×{cols}, got {m.shape[0]}×{m.shape[1]}")
    return m


class JointGaussian:
    """A collection of zero-mean jointly Gaussian vectors and matrices, and their expectations.

    Declare objects with :meth:`vector` and :meth:`matrix` (each returns an immutable SymPy
    Matrix of fresh scalar symbols), correlate vectors with :meth:`correlate`, then call
    :meth:`expectation` on any polynomial in their entries. The scalar covariance of every
    pair of entries is handed to :class:`wpgd.theory.gaussian.GaussianMoments`; independent
    objects form independent blocks, so their moments factor.

    See the module docstring for a tutorial.
    """

    def __init__(self) -> None:
        self._cov: dict[tuple[sp.Symbol, sp.Symbol], sp.Expr] = {}
        self._order: list[sp.Symbol] = []
        self._objects: dict[str, sp.ImmutableMatrix] = {}
        self._engine: GaussianMoments | None = None

    # ---------------------------------------------------------------- declarations
    def _declare(self, name: str, shape: tuple[int, int]) -> sp.ImmutableMatrix:
        if name in self._objects:
            raise ValueError(f"a Gaussian object named {name!r} is already declared")
        rows, cols = shape
        if rows < 1 or cols < 1:
            raise ValueError(f"{name}: sizes must be ≥ 1, got {rows}×{cols}")
        if cols == 1:
            m = sp.ImmutableMatrix(rows, 1, lambda i, _: sp.Symbol(f"{name}_{i}"))
        else:
            m = sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}"))
        taken = set(self._order)
        if any(s in taken for s in m):
            raise ValueError(f"{name}: its entry symbols clash with an existing object")
        self._objects[name] = m
        self._order.extend(m)
        self._engine = None
        return m

    def _set(self, u: sp.Symbol, v: sp.Symbol, c) -> None:
        c = sp.sympify(c)
        if c != 0:
            self._cov[(u, v)] = c

    def vector(self, name: str, dim: int, cov) -> sp.ImmutableMatrix:
        """Declare ``v ~ N(0, cov)``.

        Args:
            name: prefix of the entry symbols (``name_0 … name_{dim-1}``).
            dim: length.
            cov: covariance, dim×dim, symmetric (SymPy or nested lists; symbols allowed).

        Returns:
            The vector as a dim×1 SymPy matrix of symbols.
        """
        c = _as_matrix(cov, dim, dim, f"covariance of {name}")
        if c != c.T:
            raise ValueError(f"covariance of {name} is not symmetric")
        v = self._declare(name, (dim, 1))
        for i in range(dim):
            for j in range(i, dim):
                self._set(v[i], v[j], c[i, j])
        return v

    def matrix(self, name: str, rows: int, cols: int, row_cov=None, col_cov=None) -> sp.ImmutableMatrix:
        """Declare a matrix-normal ``M`` with ``E[M_ij M_kl] = row_cov_ik · col_cov_jl``.

        Args:
            name: prefix of the entry symbols (``name_i_j``).
            rows, cols: shape.
            row_cov: rows×rows covariance between rows (default identity: independent rows).
            col_cov: cols×cols covariance between columns (default identity).

        Returns:
            The matrix as a rows×cols SymPy matrix of symbols.
        """
        a = sp.eye(rows) if row_cov is None else _as_matrix(row_cov, rows, rows, f"row covariance of {name}")
        b = sp.eye(cols) if col_cov is None else _as_matrix(col_cov, cols, cols, f"column covariance of {name}")
        if a != a.T or b != b.T:
            raise ValueError(f"row and column covariances of {name} must be symmetric")
        m = self._declare(name, (rows, cols))
        flat = [(i, j) for i in range(rows) for j in range(cols)]
        for p, (i, j) in enumerate(flat):
            for k, c in flat[p:]:
                self._set(m[i, j], m[k, c], a[i, k] * b[j, c])
        return m

    def correlate(self, u: sp.MatrixBase, v: sp.MatrixBase, cross) -> None:
        """Set ``E[u vᵀ] = cross`` for two declared vectors (default: independent).

        Args:
            u, v: vectors returned by :meth:`vector` (k×1 and m×1).
            cross: k×m cross-covariance. Joint positive semidefiniteness is the caller's
                responsibility (the expectation of a polynomial is formal either way).
        """
        c = _as_matrix(cross, u.shape[0], v.shape[0], "cross-covariance")
        if u.shape[1] != 1 or v.shape[1] != 1:
            raise ValueError("correlate() takes two declared vectors")
        known = set(self._order)
        if not all(s in known for s in (*u, *v)):
            raise ValueError("correlate() takes vectors declared in this JointGaussian")
        if set(u) & set(v):
            raise ValueError("correlate() takes two different vectors")
        for i in range(u.shape[0]):
            for j in range(v.shape[0]):
                self._set(u[i], v[j], c[i, j])
        self._engine = None

    # ---------------------------------------------------------------- queries
    @property
    def variables(self) -> tuple[sp.Symbol, ...]:
        """Every scalar Gaussian symbol declared so far, in declaration order."""
        return tuple(self._order)

    def covariance(self, u: sp.Symbol, v: sp.Symbol) -> sp.Expr:
        """``E[u v]`` of two scalar entries."""
        return self._cov.get((u, v), self._cov.get((v, u), sp.Integer(0)))

    @property
    def engine(self) -> GaussianMoments:
        """The underlying :class:`GaussianMoments` (rebuilt after new declarations).

        Use ``engine.ring`` / ``engine.expectation_poly`` for the fast ring-arithmetic path
        when building large integrands.
        """
        if self._engine is None:
            self._engine = GaussianMoments(self._order, self.covariance)
        return self._engine

    def expectation(self, expr) -> sp.Expr:
        """Exact ``E[expr]`` for a polynomial in the declared entries (any form).

        A 1×1 matrix is treated as its entry; for a larger matrix use
        ``M.applyfunc(G.expectation)``.

        Returns:
            An expanded SymPy expression in the remaining (non-Gaussian) symbols.
        """
        if isinstance(expr, sp.MatrixBase):
            if expr.shape != (1, 1):
                raise ValueError("expectation() of a matrix: use M.applyfunc(G.expectation)")
            expr = expr[0, 0]
        return self.engine.expectation(expr)


def square_terms(terms: Sequence[IndexTerm], fixed: Collection[str] = ("q",)) -> list[IndexTerm]:
    """``(Σ terms)²`` in index notation: every product of two terms, the second relabelled.

    Summed labels of the second factor get a prime (``i → i'``) so the two copies of a sum
    are independent; ``fixed`` labels (e.g. the query token ``q``) are shared.

    Examples:
        >>> t = IndexTerm(sp.Integer(1), (Tensor("w", ("i",)),), (Field("x", "i", "a"),))
        >>> [tuple(f.token for f in s.fields) for s in square_terms([t])]
        [('i', "i'")]
    """
    fixed = set(fixed)
    out = []
    for s, t in itertools.product(terms, repeat=2):
        labels = {x for tt in t.tensors for x in tt.labels} | {
            x for f in t.fields for x in (f.token, f.feature) if x is not None
        }
        out.append(s * t.relabel({x: x + "'" for x in labels if x not in fixed}))
    return out


def trace_expectation(
    terms: Sequence[IndexTerm],
    cov_rule: Callable[[Field, Field], IndexTerm | None],
    spec: ContractionSpec,
) -> sp.Expr:
    """``E[Σ terms]`` for general sizes: Wick pairings, then contraction to traces.

    Args:
        terms: index-notation monomials (:class:`wpgd.theory.gaussian.IndexTerm`); repeated
            labels are summed.
        cov_rule: covariance of two field components (see
            :func:`wpgd.theory.gaussian.wick_expectation`).
        spec: the tensor vocabulary (:class:`wpgd.theory.contraction.ContractionSpec`).

    Returns:
        An expanded scalar SymPy expression in traces (and token quadratic forms).
    """
    total: list[IndexTerm] = []
    for term in terms:
        total.extend(wick_expectation(term, cov_rule))
    return sp.expand(contract_sum(total, spec))
