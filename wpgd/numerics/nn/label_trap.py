"""The rank-one label trap of one-layer GLA training, read off the weights.

A WPGD predictor ``ŷ = xᵀ P Σ_s ω_s x_s y_s`` needs the products ``x_s·y_s`` of every
demonstration. A one-layer GLA head predicts ``Σ_s (q·(g_s ⊙ k_s)) v_s`` with the label row of the
value, and the products ``x_s·y_s`` come out of ``k_s v_s`` in two ways:

* the key reads the features and the value reads the label (the construction of
  ``wpgd.numerics.nn.construct``): ``P = Σ_c q_{c,x} k_{c,x}ᵀ · v_y``, any rank;
* the key reads the label and the value reads the features (the **trap**):
  ``P = (Σ_c q_{c,x} k_{c,y}) v_xᵀ``, rank one whatever the key width.

For d ≥ 2 the second is a basin of its own: the gradient that would grow ``v_y`` is the one the
trapped keys already serve, and the run settles at the best rank-one preconditioner
(docs/training.md, "The rank-one label trap"). Its cost ranges from a few per cent (a Σ close to
rank one) to half the way to the zero predictor, so no test of the risk sees every instance;
the weights show it directly.

:func:`leave_label_trap_` moves a trapped model out of the trap without losing what it learned:
per head it rewrites the x·y products of the trap's factorisation into the construction's,

    k_{c,x} ← (k_{c,x}·v_y + k_{c,y}·v_x) / s,   k_{c,y} ← 0,   q_{c,y} ← 0,   v_x ← 0,   v_y ← s,

with ``s = ±max(|v_y|, ‖v_x‖)`` (the sign of ``v_y``), so that every channel's coefficient of
``y_s x_s`` is unchanged, gates, queries and delimiter weights untouched. Dropped are only the
terms that do not carry ``x_s y_s``: ``(k_{c,x}·x_s)(v_x·x_s)`` and ``k_{c,y} v_y y_s²``. The
trap's pair of factors (the key's label weights, the value's feature weights) is then at (0, 0), a
saddle of its bilinear term, and the preconditioner ``Σ_c q_{c,x} k_{c,x}ᵀ v_y`` can take any rank.

:func:`label_trap_share` is the part of the x·y pathway carried by the trap factorisation,
channel by channel in absolute value (so that the opposite-signed channel groups of vector gating
do not cancel), with the gates left out (they weight both factorisations of a channel alike)::

    trap  = Σ_{h,c} ‖q_{hc,x}‖ · |k_{hc,y}| · ‖v_{h,x}‖
    share = trap / (trap + Σ_{h,c} ‖q_{hc,x}‖ · ‖k_{hc,x}‖ · |v_{h,y}|)

Every term is a product of one feature weight and one label weight, so a change of units of
the features or the label scales both sums alike. Measured (docs/training.md, 49 runs): runs in
the trap read 0.59–0.998 from the first evaluation (step 200) on; runs that land read up to 0.74
at step 200 and at most 0.34 from step 400 on (most below 0.02; the largest where the linear
optimum is 0.997 and the x·y pathway is almost zero, or early in a run that then drops below 0.01).
"""

from __future__ import annotations

import torch

__all__ = ["EARLY_TRAP_READINGS", "LABEL_TRAP_THRESHOLD", "TRAP_MIN_STEP", "label_trap_share",
           "leave_label_trap_"]

LABEL_TRAP_THRESHOLD = 0.4
"""Default ``TrainConfig.trap_threshold``: a run whose :func:`label_trap_share` exceeds it at the
probe is restarted from the label-split start or rewritten out of the trap
(:func:`leave_label_trap_`), as ``TrainConfig.trap_action`` says. From step 400 on the runs measured in the trap read
at least 0.59 and the runs that land at most 0.34 (docs/training.md, "The label-trap test"); 0.4
sits between them, nearer the landing runs because a false alarm costs time while a missed trap
costs the result."""


TRAP_MIN_STEP = 400
"""The trap test is made only at a probe at or after this step. At a random start the two sums
are of the same size (the share is about ½ on average); at step 200 runs that went on to land
still read up to 0.74, and from step 400 on the two groups are apart (traps ≥ 0.59, runs that land
≤ 0.34). A probe earlier than that (a run of fewer than about 1330 steps; every derived budget is
≥ 1500) would read the start."""


EARLY_TRAP_READINGS = 2
"""How many periodic evaluations in a row, each at step ``TRAP_MIN_STEP`` or later, must read a
label-trap share above the threshold for ``train_loop.early_label_trap`` to rewrite a run before
its probe: two, because a run that went on to land read 0.34 at step 400 once."""


def label_trap_share(model, d: int) -> float | None:
    """The share of the x·y pathway of a one-layer GLA model carried by the rank-one trap.

    Args:
        model: a ``wpgd.numerics.nn.gla.GLAModel`` (token layout of ``wpgd.numerics.nn.prompts``:
            the d features first, the label last).
        d: the feature dimension.

    Returns:
        A number in [0, 1], or None where the trap does not exist or is not read this way: d = 1
        (a rank-one P is every P), more than one layer (the last layer reads a residual stream
        the layers below have written), a model without ``layers`` or ``W_q``/``W_k``/``W_v``,
        or no x·y pathway at all (both sums 0).
    """
    layers = getattr(model, "layers", None)
    if d < 2 or layers is None or len(layers) != 1:
        return None
    layer = layers[0]
    if not all(hasattr(layer, name) for name in ("W_q", "W_k", "W_v")):
        return None
    with torch.no_grad():
        wq, wk, wv = (getattr(layer, name).detach().double() for name in ("W_q", "W_k", "W_v"))
        q_x = wq[:, :, :d].norm(dim=-1)  # (heads, key channels)
        k_x = wk[:, :, :d].norm(dim=-1)
        k_y = wk[:, :, -1].abs()
        v_x = wv[:, -1, :d].norm(dim=-1)  # (heads,): the label row of each head's value
        v_y = wv[:, -1, -1].abs()
        trap = float((q_x * k_y * v_x[:, None]).sum())
        construction = float((q_x * k_x * v_y[:, None]).sum())
    total = trap + construction
    if not total > 0:
        return None
    return trap / total


def leave_label_trap_(model, d: int) -> bool:
    """Rewrite a one-layer GLA model's x·y pathway from the trap's factorisation into the
    construction's, in place (the formula in the module docstring); returns False (and changes
    nothing) where :func:`label_trap_share` is None.

    The coefficient of every ``y_s x_s`` term, channel by channel, is unchanged, so the model
    keeps its gates, its query and key directions and the rank-one preconditioner it has learned;
    only the terms without ``x_s y_s`` (``(k_x·x_s)(v_x·x_s)`` and ``k_y v_y y_s²``) are dropped.
    """
    if label_trap_share(model, d) is None:
        return False
    layer = model.layers[0]
    with torch.no_grad():
        wq, wk, wv = layer.W_q, layer.W_k, layer.W_v
        for h in range(wk.shape[0]):
            v_x, v_y = wv[h, -1, :d].clone(), wv[h, -1, -1].clone()
            k_y = wk[h, :, -1].clone()
            s = max(float(v_y.abs()), float(v_x.norm()))
            if s == 0.0:
                continue
            s = -s if float(v_y) < 0 else s
            wk[h, :, :d] = (wk[h, :, :d] * v_y + k_y[:, None] * v_x[None, :]) / s
            wk[h, :, -1] = 0.0
            wq[h, :, -1] = 0.0
            wv[h, -1, :d] = 0.0
            wv[h, -1, -1] = s
    return True
