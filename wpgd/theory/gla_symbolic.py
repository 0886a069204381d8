"""Theorem 1 (gating is weighting) and the multi-layer recursion, proved with SymPy at small sizes.

Every statement is a polynomial identity in symbols (features, labels, gates, preconditioner
entries), so ``expand(lhs − rhs) == 0`` is a proof at that size. The GLA side is built from the
recurrence ``S_t = G_t ⊙ S_{t−1} + v_t k_tᵀ`` (state V×K, value rows, key columns) with the
structured projections

    k_t = x_t (key reads the features),   q_t = Pᵀ x_t,   v_t = −y_t e_label,

and the read-out ``ŷ = −(S_{n+1} q_{n+1})_label`` (the label channel carries −prediction).

Gates and which entry carries the weight:

* scalar: ``G_t = g_t 11ᵀ``; then ``ŷ = xᵀ P Xᵀ(ω ⊙ y)`` with ``ω_i = Π_{j=i+1}^{n+1} g_j``;
* key-channel (flash-linear-attention's vector gating): ``G_t = 1 g_tᵀ``, g_t ∈ R^d; then
  ``ŷ = Σ_i y_i xᵀ P diag(ω_i) x_i`` with ``ω_{i,c} = Π_{j>i} g_{j,c}``: every key channel
  carries its own weight; WPGD when the d feature channels share one gate;
* value-channel: ``G_t = g_t 1ᵀ``, g_t ∈ R^{d+1}; the **label** channel's gate carries the
  weight, ``ω_i = Π_{j>i} g_{j,label}``, and the other entries do not enter ŷ.

The multi-layer identity compares a residual stack of such layers (recurrent form, the query
with label 0 included in every layer's causal sum) with the per-token recursion
``β_t ← β_t + Q Σ_{s≤t} Ω_ts x_s (y_s − x_sᵀβ_s)`` (docs/gating.md §3), both coded here.
This module imports nothing from the rest of the project.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = [
    "SymbolicProof",
    "prompt_symbols",
    "gla_recurrent_output",
    "theorem1_scalar",
    "theorem1_key_gating",
    "theorem1_value_gating",
    "scalar_weights_monotone",
    "scalar_weights_realisable",
    "multilayer_equivalence",
]


@dataclass(frozen=True)
class SymbolicProof:
    """Outcome of a symbolic identity check.

    Attributes:
        claim: what was proved, in words.
        residual: ``expand(lhs − rhs)`` (0 when proved).
        proved: residual is identically 0.
        sizes: the sizes at which the identity was checked.
    """

    claim: str
    residual: sp.Expr
    proved: bool
    sizes: dict


def prompt_symbols(n: int, d: int):
    """Symbols of one prompt: X (n×d), y (n), query x (d), P (d×d)."""
    X = sp.Matrix(n, d, lambda i, a: sp.Symbol(f"x_{i + 1}_{a + 1}"))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y_{i + 1}"))
    xq = sp.Matrix(d, 1, lambda a, _: sp.Symbol(f"xq_{a + 1}"))
    P = sp.Matrix(d, d, lambda a, b: sp.Symbol(f"P_{a + 1}_{b + 1}"))
    return X, y, xq, P


def _tokens(X, y, xq):
    n, d = X.shape
    rows = [list(X.row(i)) + [y[i]] for i in range(n)] + [list(xq) + [0]]
    return sp.Matrix(rows)  # (n+1) × (d+1)


def gla_recurrent_output(Z, Wk, Wq, Wv, gates):
    """Causal GLA outputs from the recurrence, one per token.

    Args:
        Z: tokens, (T, D) SymPy matrix.
        Wk, Wq: (K, D); Wv: (V, D).
        gates: list of T gate matrices G_t of shape (V, K) (entrywise multipliers).

    Returns:
        list of T column vectors o_t = S_t q_t, each (V, 1).
    """
    state = sp.zeros(Wv.shape[0], Wk.shape[0])
    outs = []
    for t in range(Z.shape[0]):
        z = Z.row(t).T
        state = gates[t].multiply_elementwise(state) + (Wv * z) * (Wk * z).T
        outs.append(state * (Wq * z))
    return outs


def _structured(P, d):
    D = d + 1
    Wk = sp.Matrix.hstack(sp.eye(d), sp.zeros(d, 1))
    Wq = sp.Matrix.hstack(P.T, sp.zeros(d, 1))
    Wv = sp.zeros(D, D)
    Wv[d, d] = -1
    return Wk, Wq, Wv


def _wpgd(X, y, xq, P, omega):
    return (xq.T * P * X.T * sp.Matrix(omega).multiply_elementwise(y))[0, 0]


def _result(claim, lhs, rhs, **sizes) -> SymbolicProof:
    res = sp.expand(lhs - rhs)
    return SymbolicProof(claim=claim, residual=res, proved=res == 0, sizes=sizes)


def theorem1_scalar(n: int = 3, d: int = 2) -> SymbolicProof:
    """Scalar gating: GLA output − xᵀP Xᵀ(ω ⊙ y) ≡ 0 with ω_i = Π_{j>i} g_j."""
    X, y, xq, P = prompt_symbols(n, d)
    g = sp.symbols(f"g_1:{n + 2}")
    Wk, Wq, Wv = _structured(P, d)
    ones = sp.ones(d + 1, d)
    out = gla_recurrent_output(_tokens(X, y, xq), Wk, Wq, Wv, [g[t] * ones for t in range(n + 1)])
    omega = [sp.Mul(*g[i + 1 :]) for i in range(n)]
    return _result("scalar-gated GLA = WPGD with ω_i = Π_{j>i} g_j", -out[-1][d], _wpgd(X, y, xq, P, omega), n=n, d=d)


def theorem1_key_gating(n: int = 3, d: int = 2, shared: bool = False) -> SymbolicProof:
    """Key-channel gating: ŷ = Σ_i y_i xᵀ P diag(ω_i) x_i, ω_{i,c} = Π_{j>i} g_{j,c}.

    With ``shared=True`` the d channel gates are one symbol per token and the identity is
    checked against plain WPGD.
    """
    X, y, xq, P = prompt_symbols(n, d)
    if shared:
        gs = sp.symbols(f"g_1:{n + 2}")
        G = [[gs[t]] * d for t in range(n + 1)]
    else:
        G = [[sp.Symbol(f"g_{t + 1}_{c + 1}") for c in range(d)] for t in range(n + 1)]
    Wk, Wq, Wv = _structured(P, d)
    gates = [sp.ones(d + 1, 1) * sp.Matrix([G[t]]) for t in range(n + 1)]  # 1 gᵀ: key columns
    out = gla_recurrent_output(_tokens(X, y, xq), Wk, Wq, Wv, gates)
    if shared:
        omega = [sp.Mul(*[G[j][0] for j in range(i + 1, n + 1)]) for i in range(n)]
        return _result("key-gated GLA with one gate per token = WPGD", -out[-1][d], _wpgd(X, y, xq, P, omega), n=n, d=d)
    rhs = 0
    for i in range(n):
        w = sp.diag(*[sp.Mul(*[G[j][c] for j in range(i + 1, n + 1)]) for c in range(d)])
        rhs += y[i] * (xq.T * P * w * X.row(i).T)[0, 0]
    return _result("key-gated GLA = Σ_i y_i xᵀ P diag(ω_i) x_i (per-channel weights)", -out[-1][d], rhs, n=n, d=d)


def theorem1_value_gating(n: int = 3, d: int = 2) -> SymbolicProof:
    """Value-channel gating: the label channel's gate carries ω; the other gates drop out."""
    X, y, xq, P = prompt_symbols(n, d)
    G = [[sp.Symbol(f"g_{t + 1}_{c + 1}") for c in range(d + 1)] for t in range(n + 1)]
    Wk, Wq, Wv = _structured(P, d)
    gates = [sp.Matrix(G[t]) * sp.ones(1, d) for t in range(n + 1)]  # g 1ᵀ: value rows
    out = gla_recurrent_output(_tokens(X, y, xq), Wk, Wq, Wv, gates)
    omega = [sp.Mul(*[G[j][d] for j in range(i + 1, n + 1)]) for i in range(n)]
    return _result("value-gated GLA = WPGD with ω from the label channel's gate", -out[-1][d],
                   _wpgd(X, y, xq, P, omega), n=n, d=d)


def scalar_weights_monotone(n: int = 5) -> SymbolicProof:
    """ω_{i+1} − ω_i = ω_{i+1}(1 − g_{i+1}): gate products are non-decreasing toward the query
    whenever 0 ≤ g ≤ 1 (identity checked for all i at once)."""
    g = sp.symbols(f"g_1:{n + 2}")
    omega = [sp.Mul(*g[i + 1 :]) for i in range(n)]
    res = sum((omega[i + 1] - omega[i] - omega[i + 1] * (1 - g[i + 1])) ** 2 for i in range(n - 1))
    return _result("ω_{i+1} − ω_i = ω_{i+1}(1 − g_{i+1}) ≥ 0", res, 0, n=n)


def scalar_weights_realisable(n: int = 5) -> SymbolicProof:
    """Any positive ω is realised up to scale by the gates ``g_j = ω_{j−1}/ω_j`` (j = 2..n) and
    ``g_{n+1} = 1``: ``Π_{j>i} g_j = ω_i/ω_n`` (telescoping; gates ≤ 1 iff ω is non-decreasing)."""
    w = sp.symbols(f"w_1:{n + 1}", positive=True)
    g = [sp.Integer(1)] + [w[j - 1] / w[j] for j in range(1, n)] + [sp.Integer(1)]  # g_1..g_{n+1}
    res = sum((sp.cancel(sp.Mul(*g[i + 1 :]) - w[i] / w[n - 1])) ** 2 for i in range(n))
    return _result("g_j = ω_{j−1}/ω_j realises ω/ω_n", res, 0, n=n)


def multilayer_equivalence(n: int = 2, d: int = 1, layers: int = 2) -> SymbolicProof:
    """An L-layer residual scalar-gated GLA (recurrent form) equals the causal WPGD recursion.

    Layer l has preconditioner P_l (symbols) and gates g_{l,t}; the query (label 0) is part of
    every causal sum.
    """
    X, y, xq, _ = prompt_symbols(n, d)
    Z = _tokens(X, y, xq)
    T = n + 1
    Ps = [sp.Matrix(d, d, lambda a, b, l=l: sp.Symbol(f"P{l + 1}_{a + 1}_{b + 1}")) for l in range(layers)]
    g = [[sp.Symbol(f"g{l + 1}_{t + 1}") for t in range(T)] for l in range(layers)]
    # the model: residual stream through L layers
    z = Z
    for l in range(layers):
        Wk, Wq, Wv = _structured(Ps[l], d)
        outs = gla_recurrent_output(z, Wk, Wq, Wv, [g[l][t] * sp.ones(d + 1, d) for t in range(T)])
        z = z + sp.Matrix.vstack(*[o.T for o in outs])
    model = -z[T - 1, d]
    # the recursion: per-token estimates β_t
    feats = [Z.row(t)[:d] for t in range(T)]
    feats = [sp.Matrix(f) for f in feats]
    labels = [Z[t, d] for t in range(T)]
    beta = [sp.zeros(d, 1) for _ in range(T)]
    for l in range(layers):
        resid = [labels[s] - (feats[s].T * beta[s])[0, 0] for s in range(T)]
        new = []
        for t in range(T):
            grad = sp.zeros(d, 1)
            for s in range(t + 1):
                grad += sp.Mul(*g[l][s + 1 : t + 1]) * resid[s] * feats[s]
            new.append(beta[t] + Ps[l] * grad)
        beta = new
    rec = (feats[T - 1].T * beta[T - 1])[0, 0]
    return _result("L-layer GLA = causal per-token WPGD recursion", model, rec, n=n, d=d, layers=layers)
