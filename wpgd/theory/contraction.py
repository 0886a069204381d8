"""Tensor networks with Kronecker deltas → traces and quadratic forms (SymPy matrix expressions).

After Wick pairing (:func:`wpgd.theory.gaussian.wick_expectation`) an expectation is a sum of
field-free index monomials such as

    ω_i ω_j P_ab P_a'b' Σ_aa' Σ_bb' δ_cc' δ_ij R̄_ij …        (every repeated label summed).

Two kinds of labels occur and are contracted separately.

*Feature labels* (range 1..d). Every label occurs exactly twice, so after eliminating the
identity ``δ_ab`` (merging labels; a closed loop of deltas gives ``tr I = d``) the remaining
matrices form disjoint cycles; a cycle ``M¹_{a b} M²_{b c} ⋯ M^k_{· a}`` is ``tr(M¹M²⋯M^k)``,
where an entry read against its stored orientation contributes ``Mᵀ``. Each trace is put in
a canonical form (least word over cyclic rotations and over transposition of the whole
product), so equal traces produced by different pairings are identical SymPy objects.

*Token labels* (summed over the in-context tokens 1..n, plus fixed labels such as the query
``q``, which is never equal to a summed one). The token Kronecker delta ``δ_st`` merges two
summed labels, vanishes between a summed and a fixed label, and is 1 between equal fixed
labels. The joint task matrix ``R̄_st`` splits by label kind: both summed and distinct →
``R`` (an edge), the same summed label → ``D_R = diag(R)`` (a node weight), one fixed →
``r`` (a vector end), both fixed → ``r_q`` (a scalar). A token vector such as ``ω_i`` is a
vector end. Each connected component must then be a path ``uᵀ D R D ⋯ R D v`` (a quadratic
or bilinear form, written ``tr(uᵀ⋯v)`` so that it is a scalar), a cycle ``tr(D R D R ⋯)``, or
an isolated label ``Σ_i Π D = tr(Π D)`` (``n`` if it carries nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

from .gaussian import IndexTerm, Tensor

__all__ = [
    "FEATURE_DELTA",
    "TOKEN_DELTA",
    "JointTokenMatrix",
    "ContractionSpec",
    "contract",
    "contract_sum",
    "canonical_trace",
    "canonicalize_traces",
    "expand_products",
]

FEATURE_DELTA = "delta_feature"
"""Tensor name of the identity on feature labels, ``δ_ab``."""

TOKEN_DELTA = "delta_token"
"""Tensor name of the Kronecker delta on token labels, ``δ_st``."""


@dataclass(frozen=True)
class JointTokenMatrix:
    """The symmetric (n+1)×(n+1) matrix over in-context and fixed tokens, split in blocks.

    Attributes:
        name: tensor name used in index terms (e.g. ``"Rbar"``).
        block: n×n in-context block (``R``), a symmetric MatrixSymbol.
        diag: ``diag(block)`` (``D_R``), an n×n MatrixSymbol.
        cross: in-context/fixed column (``r``), an n×1 MatrixSymbol.
        corner: fixed/fixed entry (``r_q``), a scalar symbol.
    """

    name: str
    block: sp.MatrixSymbol
    diag: sp.MatrixSymbol
    cross: sp.MatrixSymbol
    corner: sp.Symbol


@dataclass(frozen=True)
class ContractionSpec:
    """Vocabulary of a tensor network: which names are feature or token tensors.

    Attributes:
        feature_dim: the value of ``tr I`` on features (``d``).
        feature_matrices: feature-label matrices by tensor name (d×d MatrixSymbols).
        symmetric: names of symmetric feature matrices (read the same in both orientations).
        token_count: the value of ``Σ_i 1`` over in-context tokens (``n``).
        token_vectors: token vectors by tensor name (n×1 MatrixSymbols), e.g. ``omega``.
        joint: the joint token matrix, or None.
        fixed_tokens: labels that denote fixed tokens (e.g. the query ``"q"``).
    """

    feature_dim: sp.Expr
    feature_matrices: Mapping[str, sp.MatrixSymbol]
    symmetric: frozenset[str]
    token_count: sp.Expr
    token_vectors: Mapping[str, sp.MatrixSymbol]
    joint: JointTokenMatrix | None = None
    fixed_tokens: frozenset[str] = field(default_factory=lambda: frozenset({"q"}))


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str, keep: str | None = None) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if keep is not None and self.find(keep) == rb:
                ra, rb = rb, ra
            self.parent[rb] = ra


def contract(term: IndexTerm, spec: ContractionSpec) -> sp.Expr:
    """Sum a field-free index monomial over all its labels.

    Args:
        term: an :class:`IndexTerm` without fields.
        spec: names of the tensors it may contain.

    Returns:
        A scalar SymPy expression in traces of the spec's matrix symbols.

    Raises:
        ValueError: if fields remain, a tensor name is unknown, or a label does not occur
            exactly twice among feature tensors.
        NotImplementedError: for a token network that is not a union of paths and cycles.
    """
    if term.fields:
        raise ValueError("contract() needs a field-free term (take the expectation first)")
    coeff = sp.sympify(term.coeff)
    feature, token = [], []
    for t in term.tensors:
        if t.name == FEATURE_DELTA or t.name in spec.feature_matrices:
            feature.append(t)
        elif t.name == TOKEN_DELTA or t.name in spec.token_vectors or (
            spec.joint is not None and t.name == spec.joint.name
        ):
            token.append(t)
        else:
            raise ValueError(f"unknown tensor {t.name!r}")
    token_value = _contract_tokens(token, spec)
    if token_value == 0:
        return sp.Integer(0)
    return coeff * _contract_features(feature, spec) * token_value


def contract_sum(terms: Sequence[IndexTerm], spec: ContractionSpec) -> sp.Expr:
    """``Σ contract(t)``: identical canonical traces combine automatically."""
    return sp.Add(*(contract(t, spec) for t in terms))


def _contract_features(tensors: Sequence[Tensor], spec: ContractionSpec) -> sp.Expr:
    uf = _UnionFind()
    value = sp.Integer(1)
    for t in tensors:
        if t.name == FEATURE_DELTA:
            a, b = t.labels
            if uf.find(a) == uf.find(b):
                value *= spec.feature_dim
            else:
                uf.union(a, b)
    edges = [
        (t.name, uf.find(t.labels[0]), uf.find(t.labels[1]))
        for t in tensors
        if t.name != FEATURE_DELTA
    ]
    incident: dict[str, list[int]] = defaultdict(list)
    for k, (_, a, b) in enumerate(edges):
        incident[a].append(k)
        incident[b].append(k)
    for label, ks in incident.items():
        if len(ks) != 2:
            raise ValueError(f"feature label {label!r} occurs {len(ks)} times (need 2)")
    used = [False] * len(edges)
    for start in range(len(edges)):
        if used[start]:
            continue
        word = []
        k, here = start, edges[start][1]
        while not used[k]:
            used[k] = True
            name, a, b = edges[k]
            forward = here == a
            word.append((name, not forward and name not in spec.symmetric))
            here = b if forward else a
            nxt = [j for j in incident[here] if not used[j]]
            if not nxt:
                break
            k = nxt[0]
        value *= _trace_of_word(word, spec)
    return value


def _trace_of_word(word: list[tuple[str, bool]], spec: ContractionSpec) -> sp.Expr:
    mats = [spec.feature_matrices[n].T if t else spec.feature_matrices[n] for n, t in word]
    return canonical_trace(mats, _symmetric_symbols(spec))


def _symmetric_symbols(spec: ContractionSpec) -> frozenset:
    sym = {spec.feature_matrices[n] for n in spec.symmetric}
    if spec.joint is not None:
        sym |= {spec.joint.block, spec.joint.diag}
    return frozenset(sym)


def _letter(m: sp.MatrixExpr) -> tuple[sp.MatrixSymbol, bool]:
    if isinstance(m, sp.MatrixSymbol):
        return m, False
    if isinstance(m, sp.Transpose) and isinstance(m.arg, sp.MatrixSymbol):
        return m.arg, True
    raise NotImplementedError(f"not a matrix symbol or its transpose: {m}")


def canonical_trace(letters: Sequence[sp.MatrixExpr], symmetric: Collection[sp.MatrixSymbol]) -> sp.Expr:
    """``tr(L_1 L_2 ⋯ L_k)`` in canonical form.

    The word is read up to cyclic rotation and up to transposition of the whole product
    (reverse the order, transpose every letter; symmetric letters stay as they are). Among
    those readings the canonical one starts with a row vector if it can (so a bilinear form
    reads ``tr(uᵀ M v)``, a 1×1 product) and is otherwise the least by (name, transposed).

    Args:
        letters: matrix symbols or their transposes, in product order.
        symmetric: symbols known to be symmetric.

    Returns:
        ``Trace(MatMul(...))`` of the canonical reading.
    """
    word = []
    for m in letters:
        sym, t = _letter(m)
        word.append((sym, t and sym not in symmetric))
    flipped = [(sym, (not t) and sym not in symmetric) for sym, t in reversed(word)]

    def key(w):
        sym, t = w[0]
        row = (t and sym.shape[1] == 1) or (not t and sym.shape[0] == 1)
        return (not row, [(x.name, tx) for x, tx in w])

    cands = [w[k:] + w[:k] for w in (word, flipped) for k in range(len(w))]
    best = min(cands, key=key)
    return sp.Trace(sp.MatMul(*[x.T if t else x for x, t in best]).doit())


def expand_products(m: sp.MatrixExpr) -> list[tuple[sp.Expr, list]]:
    """A matrix expression as a list of ``(scalar coefficient, [letters])`` summands.

    Letters are matrix symbols or their transposes; sums, scalar multiples, integer powers
    and transposes of products are expanded; identity matrices are dropped.
    """
    if isinstance(m, sp.MatAdd):
        return [term for arg in m.args for term in expand_products(arg)]
    if isinstance(m, sp.ZeroMatrix):
        return []
    if isinstance(m, (sp.MatrixSymbol, sp.Identity)):
        return [(sp.Integer(1), [] if isinstance(m, sp.Identity) else [m])]
    if isinstance(m, sp.Transpose):
        return [(c, [x.T for x in reversed(ls)]) for c, ls in expand_products(m.arg)]
    if isinstance(m, sp.MatPow) and m.exp.is_Integer and m.exp > 0:
        return expand_products(sp.MatMul(*([m.base] * int(m.exp))))
    if isinstance(m, sp.MatMul):
        scalar = sp.Mul(*[a for a in m.args if not getattr(a, "is_Matrix", False)])
        terms = [(scalar, [])]
        for a in m.args:
            if getattr(a, "is_Matrix", False):
                terms = [(c1 * c2, l1 + l2) for c1, l1 in terms for c2, l2 in expand_products(a)]
        return terms
    raise NotImplementedError(f"cannot flatten {type(m).__name__}: {m}")


def canonicalize_traces(expr: sp.Expr, symmetric: Collection[sp.MatrixSymbol]) -> sp.Expr:
    """Rewrite every ``Trace`` in ``expr`` as a sum of canonical traces (linear, cyclic).

    Traces of sums and of scalar multiples are split; ``tr(I_k)`` becomes ``k``; symmetric
    symbols lose their transposes. Equal traces then become identical SymPy objects.
    """
    mapping = {}
    for tr in expr.atoms(sp.Trace):
        total = sp.Integer(0)
        for c, letters in expand_products(tr.arg):
            letters = [x.arg if isinstance(x, sp.Transpose) and x.arg in symmetric else x for x in letters]
            total += c * (canonical_trace(letters, symmetric) if letters else tr.arg.shape[0])
        mapping[tr] = total
    return expr.xreplace(mapping)


def _contract_tokens(tensors: Sequence[Tensor], spec: ContractionSpec) -> sp.Expr:
    fixed = spec.fixed_tokens
    uf = _UnionFind()
    for t in tensors:
        if t.name != TOKEN_DELTA:
            continue
        s, u = t.labels
        if (s in fixed) != (u in fixed):
            return sp.Integer(0)
        if s in fixed and u in fixed and s != u:
            return sp.Integer(0)
        if s not in fixed:
            uf.union(s, u)
    value = sp.Integer(1)
    ends: dict[str, list[sp.MatrixSymbol]] = defaultdict(list)
    diags: dict[str, list[sp.MatrixSymbol]] = defaultdict(list)
    edges: list[tuple[str, str, sp.MatrixSymbol]] = []
    nodes: set[str] = set()
    for t in tensors:
        if t.name == TOKEN_DELTA:
            for s in t.labels:
                if s not in fixed:
                    nodes.add(uf.find(s))
            continue
        labels = [s if s in fixed else uf.find(s) for s in t.labels]
        nodes.update(s for s in labels if s not in fixed)
        if t.name in spec.token_vectors:
            (s,) = labels
            if s in fixed:
                raise ValueError(f"token vector {t.name} indexed by a fixed token")
            ends[s].append(spec.token_vectors[t.name])
            continue
        joint = spec.joint
        s, u = labels
        if s in fixed and u in fixed:
            value *= joint.corner
        elif s in fixed or u in fixed:
            ends[u if s in fixed else s].append(joint.cross)
        elif s == u:
            diags[s].append(joint.diag)
        else:
            edges.append((s, u, joint.block))
    adjacency: dict[str, list[int]] = defaultdict(list)
    for k, (s, u, _) in enumerate(edges):
        adjacency[s].append(k)
        adjacency[u].append(k)
    for s in nodes:
        if len(ends[s]) + len(adjacency[s]) not in (0, 2):
            raise NotImplementedError("token network is not a union of paths and cycles")

    def weight(s: str) -> list[sp.MatrixSymbol]:
        return sorted(diags[s], key=str)

    seen: set[str] = set()
    for s in sorted(nodes, key=lambda v: (not ends[v], v)):
        if s in seen:
            continue
        if not ends[s] and not adjacency[s]:
            seen.add(s)
            w = weight(s)
            value *= sp.Trace(sp.MatMul(*w).doit()) if w else spec.token_count
            continue
        word: list[sp.MatrixSymbol] = []
        used_edges: set[int] = set()
        here = s
        if ends[s]:
            word.append(ends[s][0].T)
        while True:
            seen.add(here)
            word.extend(weight(here))
            nxt = [k for k in adjacency[here] if k not in used_edges]
            if not nxt:
                break
            k = nxt[0]
            used_edges.add(k)
            a, b, mat = edges[k]
            here = b if here == a else a
            word.append(mat)
            if here in seen:
                break
        if ends[s]:
            word.append(ends[here][-1] if here != s else ends[s][1])
        value *= canonical_trace(word, _symmetric_symbols(spec))
    return value


