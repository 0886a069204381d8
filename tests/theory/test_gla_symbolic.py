"""Symbolic Theorem 1 and multi-layer identities (SymPy), with negative controls."""

import sympy as sp

from wpgd.theory.gla_symbolic import (
    _structured,
    _tokens,
    gla_recurrent_output,
    multilayer_equivalence,
    prompt_symbols,
    scalar_weights_monotone,
    scalar_weights_realisable,
    theorem1_key_gating,
    theorem1_scalar,
    theorem1_value_gating,
)


def test_theorem1_scalar_and_vector():
    for proof in (theorem1_scalar(3, 2), theorem1_scalar(2, 3), theorem1_key_gating(3, 2),
                  theorem1_key_gating(3, 2, shared=True), theorem1_value_gating(3, 2)):
        assert proof.proved, (proof.claim, proof.residual)


def test_weights_identities():
    assert scalar_weights_monotone(6).proved
    assert scalar_weights_realisable(6).proved


def test_multilayer_identity():
    assert multilayer_equivalence(2, 1, 2).proved
    assert multilayer_equivalence(2, 2, 2).proved
    assert multilayer_equivalence(3, 1, 3).proved


def test_negative_controls_fail():
    # the gate of token i itself does not enter ω_i: including it breaks the identity
    n, d = 3, 2
    X, y, xq, P = prompt_symbols(n, d)
    g = sp.symbols(f"g_1:{n + 2}")
    Wk, Wq, Wv = _structured(P, d)
    out = gla_recurrent_output(_tokens(X, y, xq), Wk, Wq, Wv, [g[t] * sp.ones(d + 1, d) for t in range(n + 1)])
    wrong = [sp.Mul(*g[i:]) for i in range(n)]
    rhs = (xq.T * P * X.T * sp.Matrix(wrong).multiply_elementwise(y))[0, 0]
    assert sp.expand(-out[-1][d] - rhs) != 0
    # a shared-estimate (non-causal) two-step GD is not what two causal layers compute
    n, d = 2, 1
    X, y, xq, _ = prompt_symbols(n, d)
    P1, P2 = sp.symbols("P1_1_1 P2_1_1")
    model = multilayer_equivalence(n, d, 2)
    assert model.proved
    b1 = P1 * sum(X[i, 0] * y[i] for i in range(n))
    b2 = b1 + P2 * sum(X[i, 0] * (y[i] - X[i, 0] * b1) for i in range(n))
    Wk, Wq, Wv = _structured(sp.Matrix([[P1]]), d)
    z = _tokens(X, y, xq)
    for Pl in (P1, P2):
        Wk, Wq, Wv = _structured(sp.Matrix([[Pl]]), d)
        outs = gla_recurrent_output(z, Wk, Wq, Wv, [sp.ones(d + 1, d)] * (n + 1))
        z = z + sp.Matrix.vstack(*[o.T for o in outs])
    assert sp.expand(-z[n, d] - xq[0] * b2) != 0
