"""SymPy: an L-layer scalar GLA with label *and* feature writes equals the gated GD++ recursion.

Layer l of the construction (one head, residual, tokens ``z = [x | y]``): key ``W_k = [B_lᵀ | 0]``,
query ``W_q = [I | 0]``, value ``W_v`` with x-block A_l and label entry −w_l, scalar gates g_{l,t}
(symbols). The recursion (docs/theory.md §6.4), with Ω^{(l)}_{ts} = Π_{s<u≤t} g_{l,u}:

    r_t ← r_t − x_tᵀ (w_l B_lᵀ) Σ_{s≤t} Ω_ts x_s r_s,
    x_t ← x_t + A_l (Σ_{s≤t} Ω_ts x_s x_sᵀ) B_l x_t,            ŷ = −r_T,

is written here from prefix sums, independently of the model's recurrent state. The identity
is checked as a polynomial identity (all of x, y, A, B, w, g symbols) at tiny sizes.

With ``rescale=True`` the prompt carries a delimiter token ``[0 | 1 | 0]`` after the first
demonstration (tokens ``z = [x | flag | y]``) and each layer has one more key coordinate: query
``r_t`` (the label channel), key ``c_l·flag``, value ``flag`` into the label channel. The
recursion then adds ``r_t ← r_t + (Σ_{s≤t} c_s Ω_ts) r_t`` with ``c_s = c_l`` at the delimiter
and 0 elsewhere (docs/theory.md §6.4, gated GD++ with label rescaling).
"""

from __future__ import annotations

import sympy as sp

from .gla_symbolic import SymbolicProof, _result, _tokens, gla_recurrent_output, prompt_symbols

__all__ = ["gdpp_equivalence"]


def _layer_symbols(k: int, d: int):
    A = sp.Matrix(d, d, lambda a, b: sp.Symbol(f"A{k + 1}_{a + 1}_{b + 1}"))
    B = sp.Matrix(d, d, lambda a, b: sp.Symbol(f"B{k + 1}_{a + 1}_{b + 1}"))
    return A, B, sp.Symbol(f"w{k + 1}"), sp.Symbol(f"c{k + 1}")


def _model(Z, params, gates, d: int, rescale: bool):
    T, D = Z.shape
    z = Z
    for (A, B, w, c), g in zip(params, gates):
        Wk = sp.Matrix.hstack(B.T, sp.zeros(d, D - d))
        Wq = sp.Matrix.hstack(sp.eye(d), sp.zeros(d, D - d))
        Wv = sp.zeros(D, D)
        Wv[:d, :d] = A
        Wv[D - 1, D - 1] = -w
        if rescale:  # key coordinate d: key c·flag, query the label channel; value: flag → label
            Wk = Wk.col_join(sp.Matrix([[0] * d + [c, 0]]))
            Wq = Wq.col_join(sp.Matrix([[0] * d + [0, 1]]))
            Wv[D - 1, d] = 1
        outs = gla_recurrent_output(z, Wk, Wq, Wv, [g[t] * sp.ones(D, Wk.shape[0]) for t in range(T)])
        z = z + sp.Matrix.vstack(*[o.T for o in outs])
    return -z[T - 1, D - 1]


def _recursion(Z, params, gates, d: int, drop_feature_write: bool = False, delimiter=None):
    T, D = Z.shape
    x = [sp.Matrix(Z.row(t)[:d]) for t in range(T)]
    r = [Z[t, D - 1] for t in range(T)]
    for (A, B, w, c), g in zip(params, gates):
        Q = w * B.T
        coef = [c if s == delimiter else 0 for s in range(T)]
        new_x, new_r = [], []
        for t in range(T):
            om = [sp.Mul(*g[s + 1 : t + 1]) for s in range(t + 1)]
            grad = sum((om[s] * r[s] * x[s] for s in range(t + 1)), sp.zeros(d, 1))
            cov = sum((om[s] * x[s] * x[s].T for s in range(t + 1)), sp.zeros(d, d))
            scale = sum(om[s] * coef[s] for s in range(t + 1))
            new_r.append(r[t] + scale * r[t] - (x[t].T * Q * grad)[0, 0])
            new_x.append(x[t] if drop_feature_write else x[t] + A * cov * B * x[t])
        x, r = new_x, new_r
    return -r[T - 1]


def gdpp_equivalence(
    n: int = 2,
    d: int = 1,
    layers: int = 2,
    drop_feature_write: bool = False,
    rescale: bool = False,
    drop_rescale: bool = False,
) -> SymbolicProof:
    """L-layer GLA with the gated GD++ construction = the gated GD++ recursion (polynomial identity).

    Args:
        n, d, layers: sizes (n demonstrations, the query last).
        drop_feature_write: compare with the label-only recursion instead (a negative control:
            the identity must then fail).
        rescale: a delimiter token after the first demonstration and the label-rescaling key
            coordinate in every layer (module docstring); needs n ≥ 2.
        drop_rescale: with ``rescale``, compare with the recursion without the rescaling term (a
            negative control: the identity must then fail).
    """
    X, y, xq, _ = prompt_symbols(n, d)
    Z = _tokens(X, y, xq)
    delimiter = None
    if rescale:
        if n < 2:
            raise ValueError("the label-rescaling identity needs n ≥ 2 (a delimiter between two demonstrations)")
        delimiter = 1
        rows = [list(Z.row(t)[:d]) + [0, Z[t, d]] for t in range(n + 1)]
        rows.insert(delimiter, [0] * d + [1, 0])
        Z = sp.Matrix(rows)
    T = Z.shape[0]
    params = [_layer_symbols(k, d) for k in range(layers)]
    gates = [[sp.Symbol(f"g{k + 1}_{t + 1}") for t in range(T)] for k in range(layers)]
    model = _model(Z, params, gates, d, rescale)
    rec = _recursion(Z, params, gates, d, drop_feature_write, None if drop_rescale else delimiter)
    claim = "L-layer GLA (label and feature writes) = gated GD++ recursion"
    if rescale:
        claim = "L-layer GLA (label and feature writes, delimiter label block) = gated GD++ recursion with label rescaling"
    return _result(claim, model, rec, n=n, d=d, layers=layers)
