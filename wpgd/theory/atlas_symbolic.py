"""The architecture atlas's weight formula (8.1), proved with SymPy on a tiny prompt (docs/theory.md §8.1).

Each published recurrence is written here as published, with symbolic gate parameters (decays,
Δ and A, gate logits, input gates, the bonus u, the mLSTM normaliser) **one per token type**, as
the construction's gate maps read only a token's non-feature coordinates:

* retnet: ``S_t = γ S_{t−1} + k_t v_t``, γ = 1 − 2^−5;
* mamba2: ``h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t x_t``, Δ = softplus(δ), A = −exp(A_log);
* gla: ``S_t = diag(α_t) S_{t−1} + k_t v_t``, α = sigmoid(a)^(1/16) per key channel;
* rwkv6: ``S_t = diag(w_t) S_{t−1} + k_t v_t``, w = exp(−exp(a)) per key channel, read-out
  ``o_t = r_tᵀ(S_{t−1} + diag(u) k_t v_t)`` (the bonus u);
* mlstm: ``C_t = f_t C_{t−1} + i_t k_t v_t``, ``n_t = f_t n_{t−1} + i_t k_t``,
  ``h_t = q_tᵀC_t / max(|n_tᵀq_t|, 1)``, f = sigmoid(f̃), i = exp(ĩ), keys scaled by ε and values
  by 1/ε (the normaliser's ε-limit).

Under the construction (key = x, value = −y, query = Pᵀx; delimiters and the query have value 0)
the recurrence is unrolled on a segment prompt ``demos | delimiter | demos | … | query`` and the
read-out ŷ = −o_T is compared with the WPGD predictor ``Σ_i ω_i y_i xᵀ P x_i`` (key-channel
gates: ``Σ_i y_i xᵀ P diag(ω_i) x_i``) with ω from the class parametrisation

    ω_i = s_i · exp(Σ_{j>i} L_j)                                                  (8.1)

(``expand(lhs − rhs) == 0`` is a proof at that size). Wrong rules (Mamba2 without its Δ input
scaling, RWKV-6 with the query's decay, the gate of token i included) are the negative controls.
This module imports nothing from the rest of the project.
"""

from __future__ import annotations

import sympy as sp

from wpgd.theory.gla_symbolic import SymbolicProof, prompt_symbols

__all__ = ["ATLAS_RULES", "atlas_identity", "monotone_weights", "token_types"]

ATLAS_RULES = ("derived", "no_input_scale", "query_decay", "own_gate")
"""Weight rules: the derived one (8.1) and three wrong ones (negative controls): the input scale
s_i dropped, the query's own decay applied (RWKV-6) / not applied (others), the gate of token i
included in its own weight."""


def token_types(sizes, context: str = "none"):
    """Token types of a segment prompt, as (kind, type) pairs: kind "demo" / "delim" / "query";
    demonstrations share one type ("none") or one per segment ("onehot")."""
    out = []
    for s, size in enumerate(sizes):
        out += [("demo", f"D{s + 1}" if context == "onehot" else "D")] * size
        if s < len(sizes) - 1:
            out.append(("delim", f"B{s + 1}"))
    out.append(("query", "Q"))
    return out


def _gates(name: str, types, d: int):
    """Per-type symbols → per-token (log-decay per key channel, input scale)."""
    names = sorted({t for _, t in types})
    logdec, scale = {}, {}
    if name == "retnet":
        gamma = 1 - sp.Rational(1, 32)
        for t in names:
            logdec[t], scale[t] = [sp.log(gamma)] * d, sp.Integer(1)
    elif name == "mamba2":
        a_log = sp.Symbol("A_log", real=True)
        for t in names:
            delta = sp.log(1 + sp.exp(sp.Symbol(f"delta_{t}", real=True)))  # softplus
            logdec[t], scale[t] = [-sp.exp(a_log) * delta] * d, delta
    elif name == "mlstm":
        for t in names:
            f = sp.Symbol(f"f_{t}", real=True)
            logdec[t] = [-sp.log(1 + sp.exp(-f))] * d  # logsigmoid
            scale[t] = sp.exp(sp.Symbol(f"i_{t}", real=True))
    else:
        for t in names:
            a = [sp.Symbol(f"a_{t}_{c + 1}", real=True) for c in range(d)]
            if name == "gla":
                logdec[t] = [-sp.log(1 + sp.exp(-ac)) / 16 for ac in a]  # logsigmoid / 16
            else:
                logdec[t] = [-sp.exp(ac) for ac in a]
            scale[t] = sp.Integer(1)
    return logdec, scale


def _recurrence(name: str, types, X, y, xq, P, logdec, scale, eps):
    """ŷ = −(read-out at the query) of the recurrence as published, and the mLSTM normaliser's
    argument nᵀq (None for the others)."""
    d = X.shape[1]
    state = sp.zeros(d, 1)  # key channels × value (the label channel only)
    norm = sp.zeros(d, 1)
    i_demo = 0
    out, nq = None, None
    for kind, typ in types:
        if kind == "demo":
            x, v = X.row(i_demo).T, -y[i_demo]
            i_demo += 1
        else:
            x, v = (xq if kind == "query" else sp.zeros(d, 1)), sp.Integer(0)
        q = P.T * x
        decay = sp.diag(*[sp.exp(ld) for ld in logdec[typ]])
        if name == "rwkv6":
            u = sp.diag(*[sp.Symbol(f"u_{c + 1}", real=True) for c in range(d)])
            if kind == "query":
                out = (q.T * (state + u * x * v))[0, 0]
            state = decay * state + x * v
            continue
        if name == "mlstm":
            k, val = eps * x, v / eps
            state = decay * state + scale[typ] * k * val
            norm = decay * norm + scale[typ] * k
        else:
            state = decay * state + scale[typ] * x * v
        if kind == "query":
            out = (q.T * state)[0, 0]
            nq = (norm.T * q)[0, 0] if name == "mlstm" else None
    assert out is not None
    return -out, nq


def _claimed(name: str, types, logdec, scale, rule: str, d: int):
    """ω_{i,c} per demonstration and key channel from (8.1), or a wrong rule."""
    T = len(types)
    omegas = []
    for i, (kind, typ) in enumerate(types):
        if kind != "demo":
            continue
        first = i if rule == "own_gate" else i + 1
        last = T - 1 if name == "rwkv6" and rule != "query_decay" else T
        if name != "rwkv6" and rule == "query_decay":
            last = T - 1
        w = []
        for c in range(d):
            total = sum((logdec[types[j][1]][c] for j in range(first, last)), sp.Integer(0))
            s = sp.Integer(1) if rule == "no_input_scale" else scale[typ]
            w.append(s * sp.exp(total))
        omegas.append(w)
    return omegas


def atlas_identity(name: str, context: str = "none", sizes=(2, 1), d: int = 2,
                   rule: str = "derived") -> SymbolicProof:
    """Prove (8.1) for architecture ``name`` on a segment prompt of ``sizes`` demonstrations
    (n = Σ sizes ≤ 4 keeps it quick), feature dimension d ≤ 2.

    Args:
        name: retnet, mamba2, gla, rwkv6 or mlstm.
        context: "none" (one demonstration type) or "onehot" (one per segment).
        sizes: demonstrations per segment (a delimiter between consecutive segments).
        d: feature dimension (= key channels).
        rule: one of :data:`ATLAS_RULES` (anything but "derived" is a negative control).

    Returns:
        A :class:`~wpgd.theory.gla_symbolic.SymbolicProof`; for mlstm the claim also requires
        the normaliser's argument to be ε times an ε-free expression (so max(|nᵀq|, 1) = 1 as
        ε → 0).
    """
    if rule not in ATLAS_RULES:
        raise ValueError(f"rule must be one of {ATLAS_RULES}, got {rule!r}")
    n = int(sum(sizes))
    X, y, xq, P = prompt_symbols(n, d)
    types = token_types(sizes, context)
    logdec, scale = _gates(name, types, d)
    eps = sp.Symbol("epsilon", positive=True)
    lhs, nq = _recurrence(name, types, X, y, xq, P, logdec, scale, eps)
    omegas = _claimed(name, types, logdec, scale, rule, d)
    rhs = sum((y[i] * (xq.T * P * sp.diag(*omegas[i]) * X.row(i).T)[0, 0] for i in range(n)), sp.Integer(0))
    claim = f"{name} ({context}): one-layer read-out = Σ_i y_i xᵀP diag(ω_i) x_i, ω by rule {rule!r}"
    res = sp.expand(sp.powsimp(sp.expand(lhs - rhs), combine="exp"))
    proved = res == 0
    if name == "mlstm" and nq is not None:
        ratio = sp.expand(nq / eps)
        proved = proved and not ratio.has(eps) and nq != 0
    return SymbolicProof(claim=claim, residual=res, proved=bool(proved),
                         sizes={"sizes": list(sizes), "d": d, "context": context})


def monotone_weights(name: str, context: str = "none", sizes=(2, 2), d: int = 1) -> SymbolicProof:
    """Decide with SymPy's assumptions whether (8.1) makes every channel's weights non-decreasing
    toward the query for **all** real gate parameters: ``log(ω_i/ω_{i+1}) ≤ 0`` for consecutive
    demonstrations (across delimiters too).

    Returns:
        A :class:`~wpgd.theory.gla_symbolic.SymbolicProof` whose ``residual`` is the tuple of the
        log-ratios SymPy cannot show to be ≤ 0 (proved: none left). With context "onehot",
        Mamba2's and mLSTM's input scales differ between segments and the cross-segment ratio is
        left undecided — it takes both signs (the ``nonneg`` class, docs/theory.md §8.2).
    """
    types = token_types(sizes, context)
    logdec, scale = _gates(name, types, d)
    demos = [i for i, (kind, _) in enumerate(types) if kind == "demo"]
    undecided = []
    for i, j in zip(demos, demos[1:]):
        for c in range(d):
            # ω_i / ω_j = (s_i / s_j) · exp(−Σ_{i<k≤j} L_k): its log
            log_ratio = sp.log(scale[types[i][1]]) - sp.log(scale[types[j][1]]) + sum(
                (logdec[types[k][1]][c] for k in range(i + 1, j + 1)), sp.Integer(0))
            if log_ratio.is_nonpositive is not True:
                undecided.append(log_ratio)
    return SymbolicProof(claim=f"{name} ({context}): ω_i ≤ ω_(i+1) per channel for all gate parameters",
                         residual=sp.Tuple(*undecided), proved=not undecided,
                         sizes={"sizes": list(sizes), "d": d, "context": context})
