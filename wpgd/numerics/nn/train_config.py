"""The frozen configuration of a training run, and the model it builds.

:class:`TrainConfig` holds every setting of :func:`wpgd.numerics.nn.training.train` and is dumped to the
run folder's ``config.json``; :func:`build_model` turns it into a randomly initialised
``wpgd.numerics.nn.gla.GLAModel`` (docs/training.md explains the initialisation and optimiser choices).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch

from wpgd.numerics.core.errors import InvalidProblemError, WPGDError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.references import MODEL_KINDS, one_signed_excess, vector_weights_change_sign
from wpgd.numerics.nn.label_trap import LABEL_TRAP_THRESHOLD
from wpgd.numerics.nn.prompts import PromptFormat, delimiter_dim

__all__ = [
    "FAMILY_DEFAULTS",
    "GATE_DECAY",
    "LR_RULE",
    "OPEN_GATE_DECAY",
    "RECENCY_DECAY_FACTOR",
    "SIGNED_GROUP_SCALE",
    "SIGN_CHANGE_START_MISS",
    "SIGN_CHANGE_START_RECORD",
    "STEP_BUDGET",
    "TrainConfig",
    "build_model",
    "default_key_dim",
    "gate_bias_rule",
    "lr_rule",
    "step_budget",
    "layer_class_params",
    "tie_qk_",
    "sign_change_start_note",
    "SIGN_CHANGE_MATERIAL",
    "AUTO_RERUN_FACTOR",
    "with_overrides",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_SCHEDULES = ("cosine", "constant")

FAMILY_DEFAULTS = {
    "vector": {"restarts": 0, "trap_action": "rewrite", "init_signed_groups": True, "key_width_factor": 2,
               "sign_change_start": "auto"},
}
"""Per-family departures from the :class:`TrainConfig` defaults, applied by
:meth:`TrainConfig.for_model` (``wpgd train``, the experiments). Vector-gated models use the
derived recipe of the other families plus two initialisation choices that give the two channel
groups of ω = u − v a start (docs/training.md, "Vector models"): the key channels start as two
groups of opposite sign (``init_signed_groups``), and the key width is twice the construction's
2d (``key_width_factor``: two channels per direction of each group, so a channel that closes its
gate or changes sign early does not leave a group rank-deficient). No plateau restarts: a
restart at 30% cut off runs that were escaping. A run found in the rank-one label trap (at two
evaluations in a row from step 400, or at the probe) is rewritten out of it and trains on
(``trap_action`` "rewrite"): restarting it from the label-split start lost what its gates had learned and ended +14% at d = 16 (docs/training.md,
"The label-trap test"). ``init_label_split`` (no key reads the
label at the start) is not a default: it avoids the trap but delays the escape from the scalar
optimum on ``d10_id_4seg_neg`` (docs/training.md, "The rank-one label trap"). Where the
problem's vector optimum changes sign, the *sign-change start* (``sign_change_start`` "auto")
doubles the key width again and starts the gates nearly open (:data:`OPEN_GATE_DECAY`): with the
plain start an eight-segment pattern lost one of the two groups and ended about +10% (docs/training.md,
"Vector gating at the edges")."""

GATE_DECAY = {"scalar": 0.2, "vector": 2.0}
"""Total initial log-decay across the prompt, ``−Σ_t log g_t ≈ T e^{−b}``, that
:func:`gate_bias_rule` aims at: scalar gates start close to linear attention (every token
weighted ≥ e^{−0.2} ≈ 0.82); vector gates start with key channels at different,
data-dependent decays (e^{−2} across the prompt; the module's bias 3 at T ≈ 40)."""

OPEN_GATE_DECAY = 0.03
"""The total initial decay across the prompt (gates starting nearly open) of a vector model's
*sign-change start* (``TrainConfig.sign_change_start``: with twice the key width, for a problem
whose vector optimum's weights change sign). Measured on the eight-segment pattern of
``d2_8seg_long`` (docs/training.md, "Vector gating at the edges"): alone it landed 1 of 3 runs at
n = 80 and 1 of 3 at n = 960 (the others near +22%), where the plain start (ρ = 2) missed by about
10%; with the doubled key width, 3 of 3 at each length."""

SIGN_CHANGE_MATERIAL = 0.01
"""The least :func:`~wpgd.numerics.core.references.one_signed_excess` (how much higher the risk of
the best one-signed weights is than the vector optimum's) at which ``sign_change_start`` "auto"
applies the start. The five sign-changing specs measured with both starts whose excess is below
1% (0.13–0.55%) land with the plain start (+0.02% to +1.77%); the start moved four of them by
−0.15 to +0.05 points and made the fifth miss (d = 10, eight segments, two small negative
correlations, excess 0.18%: +7.34% and +2.81% at seeds 0 and 1, against +1.77% and +1.70%). The
specs it rescued have excesses of 3.87% (d = 24) to 20%. Ten more specs between 0.62% and 1.58%,
each with both starts: below 1% the start never helped (0 to +0.46 points), from 1.04% up it helped
two by 2.0 and 3.1 points and cost at most 0.35 elsewhere, and with this rule all ten land. 1% is
still a choice, now between measured specs at 0.93% and 1.04% (docs/training.md, "Where the sign
change is immaterial" and "The band around 1%, measured")."""

AUTO_RERUN_FACTOR = 3
"""How many times its derived budget the automatic re-run of a vector run has (``auto_rerun``): a
run that ends outside its tolerance at or below the best one-signed weights' risk of an optimum
whose weights change sign has not formed (or has lost) one of its two channel groups, and the
derived budget's transient does not say how long forming it takes. On the d = 24, three-segment
spec of docs/training.md ("Beyond d = 16") the default 16 000 steps ended there (+4.2%, +4.5% at
seeds 0 and 1), and fresh runs of 48 000 steps landed (+0.80%, +0.89%). The finished 16 000-step
run continued to 48 000 ended +3.98%, on the longer run's schedule and with the rate warmed up
again alike: the re-run starts again, it does not continue. Only with the sign-change start: the
plain start on the d = 2 pattern of eight segments of 10 (``--sign-change-start off``) ended
+5.23% at 15 500 steps and +10.65% when re-run with 46 500 (docs/training.md, "Automatic re-run")."""

PLAIN_START_RERUN = ("a weak-signal pattern (d = 15, Toeplitz 0.55, segments [4, 9, 10, 5], the oldest segment the "
                     "most informative, query correlations (−0.28, 0.11, 0.09, −0.09) scaled by 1.5 and 2) ended "
                     "+7.28% and +6.31% with the sign-change start, above the one-signed risk, and +0.60% and "
                     "+0.45% with the plain start")
"""What the automatic re-run with the plain start rests on (``training._auto_rerun``): a vector run
with the sign-change start that ends outside its tolerance *above* the best one-signed weights'
risk is run again once with the plain start and the same steps, and the better of the two runs
on the periodic held-out set is kept (docs/training.md, "Automatic re-run"). On the measured
pattern the sign-change start's runs were rewritten out of the rank-one label trap 8 and 5 times
and recovered 9% and 58% of the optimum's gain over predicting zero; the plain start's were
never trapped."""

WEAK_SIGNAL_GAIN = 0.10
"""Below this gain of the run's class optimum over predicting zero (``1 − R*``, normalised risks:
:func:`weak_signal_gain`) a run that misses is re-run once with :data:`WEAK_SIGNAL_BATCH_FACTOR`
times the batch (``training._auto_rerun``), and a miss's WARNING suggests a larger batch still.
The gradient's signal scales with the gain and its noise does not, so each batch of 256 prompts is
mostly noise. Measured on the weak-signal pattern of docs/training.md ("Automatic re-run"): at a
gain of 5.2% the plain start ended +3.19% with batch 256, +4.80% with 512 and +0.00% with 1024
(the same 15 500 steps); at a gain of 3.3%, where 256 learned nothing, 1024 ended +0.06% and 2048
+0.38%; at 7.4% the plain start landed with 256 (+0.60%) and with 1024 (+0.12%), at 13.2% with
256 (+0.45%). 10% is a choice between the measured gains of 5.2% (needs the batch) and 13.2%
(does not). Linear attention and scalar gating too: at d = 44 with one segment of n = 5 (gain
1.6%) their default runs ended above predicting zero, +2.10% and +2.14%, and with batch 1024 and
the budget derived for it +0.40% (docs/training.md, "Weak signals in linear and scalar runs")."""

WEAK_SIGNAL_BATCH_FACTOR = 4
"""How many times the batch the weak-signal re-run has (:data:`WEAK_SIGNAL_GAIN`): twice the batch
did not help on the measured pattern (+4.80% at a gain of 5.2%), four times did. The re-run has the
budget :func:`step_budget` derives for its batch where the run's was derived (the transient's
steps stay, the statistical phase keeps its prompts: the same steps for a vector run at d ≤ 16,
half of them for a linear run at d = 44), else the run's steps (:func:`weak_rerun_steps`)."""


def weak_gain(optimum: float | None) -> float | None:
    """The gain ``1 − R*`` of an optimum's normalised risk ``R*`` over predicting zero where it is a
    weak signal (positive and below :data:`WEAK_SIGNAL_GAIN`); None otherwise, and for None."""
    if optimum is None:
        return None
    gain = 1.0 - float(optimum)
    return gain if 0.0 < gain < WEAK_SIGNAL_GAIN else None


def weak_signal_gain(problem: Problem, model: str = "vector") -> float | None:
    """:func:`weak_gain` of the class optimum that a ``model`` run is measured against
    (``MODEL_KINDS[model].classes[0]``; the vector one by default), ``R* / (r_q tr Σ + σ²)``; None
    also when the optimum cannot be computed (nothing here decides on a guess)."""
    from wpgd.numerics.core.classes import class_optimum

    if model not in MODEL_KINDS:
        raise InvalidProblemError(f"unknown model {model!r}")
    try:
        return weak_gain(float(class_optimum(problem, MODEL_KINDS[model].classes[0]).risk) / problem.null_risk)
    except WPGDError:
        return None


def weak_rerun_steps(config: TrainConfig, problem: Problem) -> int:
    """The steps of the weak-signal re-run of a run of ``config`` (resolved) on ``problem``: the
    budget :func:`step_budget` derives for :data:`WEAK_SIGNAL_BATCH_FACTOR` times the batch where
    the run has the budget derived for its own batch, else (steps set by hand) the run's steps."""
    k, batch = problem.num_segments or 1, config.batch_size
    if config.steps != step_budget(config.model, problem.d, k, batch, config.layers)[0]:
        return int(config.steps)
    return step_budget(config.model, problem.d, k, WEAK_SIGNAL_BATCH_FACTOR * batch, config.layers)[0]


SIGN_CHANGE_START_RECORD = "3 of 3 runs at n = 80 and 3 of 3 at n = 960"
"""What the sign-change start did on the eight-segment pattern of ``d2_8seg_long`` and its 8 × 10
variant, where the plain start missed (docs/training.md, "Vector gating at the edges"); the
WARNING of a vector miss quotes it."""

SIGN_CHANGE_START_MISS = ("on one measured spec (d = 24, three segments, weights +, −, +) it missed at two seeds "
                          "(+4.2%, +4.5%) with the default 16 000 steps and landed in fresh runs of 48 000 "
                          "(+0.80%, +0.89%), where the finished run continued to 48 000 ended +3.98%")
"""Where the sign-change start was measured to miss with the default budget, and what landed it
(docs/training.md, "Beyond d = 16"); the WARNING of a vector miss that had the start quotes it,
and suggests the same: a fresh run with three times the steps before another seed."""

RECENCY_DECAY_FACTOR = 10.0
"""The *recency start* of a scalar-gated run restarted from the linear-attention level (the probe's
"linear level" test, ``train_loop.probe_verdict``): every gate bias starts ``log 10`` lower, so the
total initial log-decay across the prompt is ten times the family's (2 instead of
:data:`GATE_DECAY` 0.2): the first token weighted about e^{−2} ≈ 0.14 of the query's neighbours
instead of 0.82. From the near-linear start, a spec whose tasks are anti-correlated with the query
in the early segments and correlated in the last one drives the preconditioner negative (the sign
the linear optimum has) before the gates move, and non-decreasing weights cannot then discount the
early segments: a local minimum at the linear-attention risk (docs/training.md, "Stuck at linear
attention"). Weighting the recent tokens from the start gives the preconditioner the last
segment's sign."""

SIGNED_GROUP_SCALE = 2 ** -0.5
"""``init_signed_groups``: the second key group starts with ``W_q = −W_k = Q₂/√2`` (Q₂ orthogonal), so
the initial score form ``Q₁ᵀQ₁ − ½Q₂ᵀQ₂`` is ½I when each group spans the token space: positive
definite, and with no feature × label cross term (a key that reads the label is the rank-one
trap of docs/training.md)."""

STEP_BUDGET = {"base": 1000, "per_param": 3.0, "vector_factor": 15.0, "round": 500}
"""Constants of :func:`step_budget` (docs/training.md, "Step budget")."""

LR_RULE = {"base": 0.01, "ref_width": 12}
""":func:`lr_rule`: peak learning rate ``base·ref_width/D`` for token width D (0.01 at D = 12,
the width of the d = 10 scalar-gated runs the rate was first tuned on)."""


def lr_rule(token_dim: int) -> float:
    """Default peak learning rate ``0.12 / D`` (D = token width = fan-in of every projection).

    Adam moves every coordinate by about the learning rate per step whatever its gradient's
    size. The projections' entries are O(1/√D) at initialisation and the WPGD solution needs
    O(1) changes of ``W_qᵀW_k`` spread over D coordinates, so a fixed rate changes the score
    form by a relative amount that grows with D, and the gradient noise of D² coordinates then
    random-walks the score form away from any preconditioner faster than the loss pulls it
    back (at d = 64 and lr 0.01 its off-diagonal part went from 0 to Frobenius norm 7 in 50
    steps). Scaling the rate as 1/fan-in (the μP rule for Adam on hidden matrices) keeps the
    relative change per step the same at every width (docs/training.md).
    """
    return LR_RULE["base"] * LR_RULE["ref_width"] / max(1, int(token_dim))


def gate_bias_rule(gating: str, seq_len: int, open_gates: bool = False) -> float:
    """Initial gate bias ``b = log(T / ρ)``: the total initial log-decay across a prompt of
    ``T`` tokens is then ``T·e^{−b} = ρ`` (:data:`GATE_DECAY`; :data:`OPEN_GATE_DECAY` with
    ``open_gates``, the vector sign-change start) whatever the prompt length.

    A fixed bias makes the initial weights depend on n (bias 6 weights the first of 1000
    tokens by e^{−2.5}, bias 3 by e^{−50}); this keeps the initial ω profile the same shape
    for every n.
    """
    rho = OPEN_GATE_DECAY if open_gates else GATE_DECAY["vector" if gating == "vector" else "scalar"]
    return math.log(seq_len / rho)


def layer_class_params(d: int, num_segments: int, layers: int = 1) -> int:
    """``p_L``: free parameters of the class optimum that training must pin down.

    One layer: ``d(d+1)/2 + K`` (a symmetric preconditioner and one weight per segment). L
    layers (the L-step gated GD++ class, docs/multilayer.md "Step budget for L layers"): every
    layer a symmetric label preconditioner and K segment weights, every layer below the last
    also a symmetric feature write, ``p_L = L·(d(d+1)/2 + K) + (L − 1)·d(d+1)/2``.
    """
    if layers < 1 or d < 1:
        raise InvalidProblemError(f"need layers ≥ 1 and d ≥ 1, got layers = {layers}, d = {d}")
    sym = d * (d + 1) // 2
    k = max(1, int(num_segments or 1))
    return layers * (sym + k) + (layers - 1) * sym


def step_budget(model: str, d: int, num_segments: int, batch_size: int, layers: int = 1) -> tuple[int, str]:
    """Default number of optimiser steps, and one line saying how it was chosen.

    ``steps = L·f·base + per_param·p_L·(256 / batch)``, rounded up to a multiple of 500, with
    ``p_L`` (:func:`layer_class_params`; ``d(d + 1)/2 + K`` at one layer) the number of free
    parameters of the class optimum that SGD must pin down, and ``f`` = 1, or ``vector_factor``
    for vector gating. The two terms are two phases. One-pass SGD with an annealed step reaches
    a relative excess risk of about ``c·p / (steps·batch)`` (the statistical rate of fresh-sample
    training), so the steps needed for a fixed tolerance grow linearly in ``p`` and inversely in
    the batch. The constant ``base`` covers the initial transient (leaving the zero predictor,
    moving the gates), which with the ``"mean"`` parametrisation does not grow with n or d, and
    is paid once per layer (a layer's update only changes the loss once the layers above read
    it: the stage-wise learning of deep linear models, Saxe et al. 2014). A vector model's
    transient is longer, not its statistical phase: it must also leave the non-negative
    monotone weights through the signed channel groups, which does not depend on p. The
    constants are in :data:`STEP_BUDGET`; docs/training.md ("Step budget") and
    docs/multilayer.md have the measurements behind them.

    Raises:
        InvalidProblemError: an unknown model, or L, d or the batch < 1.
    """
    if model not in MODEL_KINDS:
        raise InvalidProblemError(f"unknown model {model!r}")
    if batch_size < 1:
        raise InvalidProblemError(f"batch_size must be ≥ 1, got {batch_size}")
    gating = MODEL_KINDS[model].gating
    k = max(1, int(num_segments or 1))
    p = layer_class_params(d, k, layers)
    factor = STEP_BUDGET["vector_factor"] if gating == "vector" else 1.0
    transient = factor * STEP_BUDGET["base"]
    raw = layers * transient + STEP_BUDGET["per_param"] * p * 256 / batch_size
    r = STEP_BUDGET["round"]
    steps = int(math.ceil(raw / r) * r)
    first = (f"{factor:g}·" if gating == "vector" else "") + f"{STEP_BUDGET['base']}"
    why = f", the transient ×{factor:g} for vector gating," if gating == "vector" else ""
    if layers == 1:
        rule, p_def = f"({first} + ", "p = d(d+1)/2 + K"
    else:
        rule = f"derived for L = {layers} layers, (L·{first} + "
        p_def = "p_L = L(d(d+1)/2 + K) + (L−1)d(d+1)/2"
    note = (f"step budget {steps}: derived, {rule}{STEP_BUDGET['per_param']:g}·p·256/batch){why} "
            f"with {p_def} = {p:g} (d = {d}, K = {k}, batch {batch_size}), "
            f"rounded up to {r}; --steps overrides")
    return steps, note


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (dumped to ``config.json``).

    Attributes:
        model: "linear", "scalar", "scalar-nodelim" or "vector" (see ``wpgd.numerics.core.references``).
        layers: number of GLA layers (1–3 in the experiments).
        key_dim: key width; None = the model family's default (see :func:`default_key_dim`).
        num_heads: attention heads.
        mode: GLA kernel of the layers below the last: "parallel", "chunked", "recurrent", or
            "auto" (chunked for vector gating, whose masked parallel form costs O(T²·K) memory
            per prompt; parallel otherwise). The last layer is always evaluated at the query
            position only (``gla.last_query_gla``), so one-layer models never form T×T scores.
        aggregation: "mean" (default) or "sum": how each layer's output over the prompt is
            scaled (``GLALayer``: "mean" divides by the sequence length T). With "sum" the
            optimal value weights shrink like 1/n and the initial output grows like n, and
            Adam's fixed-size steps then hold the model at the zero predictor for d ≳ 20
            (the plateau of docs/training.md, "Root cause of the plateau").
        whiten_features: write features into the tokens whitened, ``Λ^{-1/2}Uᵀx`` for
            ``Σ = UΛUᵀ`` (``PromptFormat(feature_basis="whitened")``): an invertible change of
            coordinates of x that every projection absorbs, so the model class, its optimum and the
            risk are unchanged. In the spec's coordinates the curvature of the loss in the
            preconditioner is ``Σ ⊗ E[hhᵀ] ≈ Σ ⊗ Σ²`` (condition number up to κ³), and Adam's
            per-coordinate step can undo it only when Σ is diagonal; whitened it is ``I ⊗ (Λ +
            O(1/n))``, diagonal in the token coordinates. The default scalar run on a rotated Σ with
            κ ≈ 890 went from +3.43% to +0.63% (docs/training.md, "Conditioning"). Configs saved
            before this field read as False (how they were trained).
        normalize_features: without ``whiten_features``, write features into the tokens scaled by
            ``√(d / tr Σ)`` (unit average coordinate variance whatever the scale of Σ; a change of
            units). Ignored when whitening (whitened coordinates have unit variance).
        init_value_scale: multiplies the value projections ``W_v`` of the random initialisation
            (1.0 = ``GLAModel``'s initialisation).
        init_tied_qk: start ``W_q`` as a random (semi-)orthogonal matrix per head and ``W_k``
            equal to it (both stay free parameters). The score form ``q·k_s = z_Tᵀ W_qᵀW_k z_s``
            then starts at the identity on the token space (a projection if the key width is
            below the token width): isotropic similarity, the centre of the WPGD
            preconditioners. From independent Gaussian draws it starts with no preferred sign
            and an off-diagonal part as large as its diagonal, and for d ≳ 50 the model stays at
            the zero predictor (docs/training.md). False = ``GLAModel``'s Gaussian draws.
        init_signed_groups: with ``init_tied_qk``, start the key channels as two equal groups of
            opposite sign: each group's ``W_q`` its own random (semi-)orthogonal matrix, ``W_k = W_q``
            in the first and ``W_k = −W_q`` (both scaled by :data:`SIGNED_GROUP_SCALE`) in the
            second. They are the u and v groups of the
            vector-gating construction ω = u − v (``wpgd.numerics.nn.construct.vector_segment_groups``).
            From the all-positive tied start every channel learns the same monotone weights and
            the model settles at the scalar optimum (docs/training.md, "Vector models").
        init_label_split: start the label channel on the value side only: the label column of
            ``W_q`` and ``W_k`` is 0 (with ``init_tied_qk`` the orthogonal start spans the other
            coordinates), and the label row of ``W_v`` (the prediction's read-out) reads only the
            label. Every entry stays free. The terms ``x_s y_s`` that a WPGD predictor needs have
            two factorisations: the key reads x and the value reads y (the construction, any rank
            of P), or the key reads y and the value reads x (P of rank one: the label trap of
            docs/training.md); this start has only the first. Off for the first start (it slowed the
            sign-changing d = 10 spec of docs/training.md, "The rank-one label trap"); a run that
            the label-trap test catches restarts from it (``trap_action`` "restart").
        key_width_factor: multiplies the family's default key width (:func:`default_key_dim`;
            ignored when ``key_dim`` is given).
        sign_change_start: the start for a vector model whose optimal weights change sign
            (docs/training.md, "Vector gating at the edges"): "auto" (the vector family's
            default) decides from the problem in :meth:`resolved`
            (``references.vector_weights_change_sign``), True applies it, False does not.
            Applied, it doubles the key width (:attr:`effective_key_width_factor`) and, when
            ``init_gate_bias`` is "auto", starts the gates nearly open (ρ =
            :data:`OPEN_GATE_DECAY` instead of :data:`GATE_DECAY`); an explicit ``key_dim`` or
            gate bias is kept.
        init_gate_bias: initial gate bias ``b_g``: a number, None (``GLAModel``'s 3.0) or
            "auto" (default): :func:`gate_bias_rule`, ``log(T/ρ)`` so that the initial decay
            across the whole prompt is the same for every prompt length T.
        gate_lr_mult: learning-rate multiplier of the gate parameters (``W_g``, ``b_g``);
            None (default) = ``D/ref_width`` of :data:`LR_RULE`, which gives the gates the
            width-independent rate ``LR_RULE["base"]``: a gate logit must move by O(log T)
            whatever the width (its bias has fan-in 1), while ``lr_rule`` shrinks with D.
        restarts: how many times a run that the probe finds stuck (on the plateau, in the label
            trap with ``trap_action`` "restart", or a scalar-gated run still at the linear-attention
            level, ``train_loop.LINEAR_LEVEL_SHARE``) is restarted from a fresh initialisation
            (seed + 1000·attempt; after the label trap the label-split start, after the linear
            level the recency start of :data:`RECENCY_DECAY_FACTOR`); 0 = never.
        restart_at: when the probe (plateau and label-trap tests) is made, as a fraction of ``steps``.
        restart_threshold: None = no plateau test. Otherwise the run counts as stuck when its
            held-out normalised risk at the probe is more than this fraction of the way from the
            linear-attention optimum ``L_lin`` (reachable by every model family) up to 1
            (predicting zero): ``(risk − L_lin)/(1 − L_lin) > restart_threshold``, with ``risk``
            the lower end of the held-out 95% interval (so that held-out noise alone never
            restarts a run). 0.2: the rank-one label trap at small d sits 0.41–0.45 of the way up
            (d = 2, 4: docs/training.md "Edges of the range"), below the old 0.5, so it went
            unnoticed; runs that trained were at most 0.17 of the way at step 400 (point
            estimate), most within 0.03 or below ``L_lin``, and restarting a slow run costs time,
            not accuracy.
        trap_threshold: None = no label-trap test. Otherwise the run counts as caught in the
            rank-one label trap when :func:`wpgd.numerics.nn.label_trap.label_trap_share` of its
            weights at the probe exceeds this (default 0.4, ``LABEL_TRAP_THRESHOLD``: from step
            400 on runs in the trap read at least 0.59, runs that land at most 0.34,
            docs/training.md). What happens to a trapped run is ``trap_action``. Read only for
            one-layer GLA models with d ≥ 2 (the trap needs both), and only when the probe is at
            step 400 or later (``label_trap.TRAP_MIN_STEP``).
        trap_action: "restart" (default): a trapped run restarts from the label-split start
            (``init_label_split``), as does every later attempt; it uses one of ``restarts``, and
            with none left it is rewritten instead. "rewrite" (vector family): the run is
            rewritten out of the trap (:func:`wpgd.numerics.nn.label_trap.leave_label_trap_`: the
            x·y products move into the construction's factorisation, the gates and everything
            else learned are kept) and trains on in the same attempt; since a rewrite costs no
            steps it is also made before the probe, as soon as two periodic evaluations in a row
            from step 400 on read a share above ``trap_threshold``
            (:func:`wpgd.numerics.nn.train_loop.early_label_trap`). Restarting is the surer
            of the two where a budget is short (a rewritten d = 2 linear run ended +3.6%), the
            rewrite where the gates take long to learn (a restarted d = 16 vector run ended
            +14%; docs/training.md, "The label-trap test").
        delimiter: "none", "flag", "boundary" or "label"; None = the family's default.
        delimiter_value: value written in the delimiter slot.
        context: "none" or "onehot" (per-segment context features).
        normalize_labels: write labels into the tokens in units of their standard deviation
            ``√(r_q tr Σ + σ²)`` (a change of units; risks are reported in units of y). Raw
            labels are ~√d times larger than each feature, so a random key or query reads mostly
            the label, which favours a rank-one trap (docs/training.md).
        steps: optimiser steps; None (default) = :func:`step_budget` of the problem.
        steps_rule: how ``steps`` was chosen (filled by :meth:`resolved`; recorded in
            ``config.json``; an automatic re-run appends to it).
        auto_rerun: whether (1 = never) and how a run that ends outside its tolerance is re-run
            once (``training._auto_rerun``; the better of the two runs on the periodic held-out set
            is kept). A vector run with the sign-change start that ends at or below the best
            one-signed weights' risk of an optimum whose weights change sign is trained again from
            the same start with ``auto_rerun`` times the steps; one that ends above it, with the
            plain start and the same steps (:data:`PLAIN_START_RERUN`). Where the run's class
            optimum is less than :data:`WEAK_SIGNAL_GAIN` below predicting zero
            (:func:`weak_signal_gain`), a run of any model that misses, or is counted converged only
            by chance (``training.learned_nothing``), is re-run with
            :data:`WEAK_SIGNAL_BATCH_FACTOR` times the batch and :func:`weak_rerun_steps` (a vector
            run with the plain start). "auto" (default) resolves to :data:`AUTO_RERUN_FACTOR` for a
            run with a derived budget and the sign-change start (``sign_change_start`` resolved
            True) or a weak signal, else 1 (an explicit ``steps`` is kept as asked; with the plain
            start the longer re-run was measured to end worse, so a plain-start run is re-run only
            for a weak signal).
            Not part of the run's identity: a checkpoint continues under any value.
        batch_size: fresh prompts per step.
        train_pool: 0 = fresh prompts every step; > 0 = a fixed pool of that many prompts.
        lr: peak learning rate; None (default) = :func:`lr_rule` of the token width.
        weight_decay: AdamW weight decay.
        warmup: linear warm-up steps, as a fraction of ``steps``.
        schedule: "cosine" (to ``lr·min_lr_frac``) or "constant" after warm-up.
        min_lr_frac: final learning rate as a fraction of ``lr`` (cosine only).
        clip: gradient-norm clipping threshold (0 = off).
        dtype: "float32" or "float64".
        seed: seed of the model initialisation (torch global RNG).
        data_seed: seed of the training-prompt generator.
        eval_seed: seed of the periodic held-out set.
        final_seed: seed of the final held-out set (and its bootstrap).
        eval_every: steps between periodic held-out evaluations.
        eval_prompts: size of the periodic held-out set.
        final_prompts: size of the final held-out set.
        eval_batch: prompts per forward pass in evaluation.
        control_variate: use the class-optimal WPGD predictor as a control variate in the final
            evaluation (the plain estimate is always reported too).
        checkpoint_every: steps between checkpoints (0 = only at the end / on Ctrl-C).
        device: torch device ("cpu", "cuda").
        threads: torch intra-op threads (None = torch default).
        progress: show a progress bar.
        amp: "off" or "bf16": bfloat16 autocast of the training forward pass (CPU or CUDA).
            Off by default: not shown unbiased (docs/training-runs.md, "Mixed precision"); held-out
            evaluation never uses it.
    """

    model: str = "scalar"
    layers: int = 1
    key_dim: int | None = None
    num_heads: int = 1
    mode: str = "auto"
    aggregation: str = "mean"
    whiten_features: bool = True
    normalize_features: bool = True
    init_value_scale: float = 1.0
    init_tied_qk: bool = True
    init_signed_groups: bool = False
    init_label_split: bool = False
    key_width_factor: int = 1
    sign_change_start: bool | str = False
    init_gate_bias: float | str | None = "auto"
    gate_lr_mult: float | None = None
    restarts: int = 4
    restart_at: float = 0.3
    restart_threshold: float | None = 0.2
    trap_threshold: float | None = LABEL_TRAP_THRESHOLD
    trap_action: str = "restart"
    delimiter: str | None = None
    delimiter_value: float = 1.0
    context: str = "none"
    normalize_labels: bool = True
    steps: int | None = None
    steps_rule: str | None = None
    auto_rerun: int | str = "auto"
    batch_size: int = 256
    train_pool: int = 0
    lr: float | None = None
    weight_decay: float = 0.0
    warmup: float = 0.05
    schedule: str = "cosine"
    min_lr_frac: float = 0.0
    clip: float = 1.0
    dtype: str = "float32"
    seed: int = 0
    data_seed: int = 1
    eval_seed: int = 2
    final_seed: int = 3
    eval_every: int = 200
    eval_prompts: int = 4096
    final_prompts: int = 100_000
    eval_batch: int = 4096
    control_variate: bool = True
    checkpoint_every: int = 500
    device: str = "cpu"
    threads: int | None = 1
    progress: bool = True
    amp: str = "off"

    def __post_init__(self):
        # NaN passes every "< 0" test and NaN ≠ NaN breaks config comparison on resume: every
        # float setting must be finite, every count an integer, every seed in [0, 2^32).
        for f in fields(self):
            val = getattr(self, f.name)
            if isinstance(val, float) and not math.isfinite(val):
                raise InvalidProblemError(f"{f.name} must be finite, got {val}")
        for name in ("layers", "steps", "batch_size", "eval_every", "eval_batch", "num_heads", "eval_prompts",
                     "final_prompts", "train_pool", "checkpoint_every", "restarts", "key_width_factor"):
            val = getattr(self, name)
            if name == "steps" and val is None:  # derived from the problem by resolved()
                continue
            if isinstance(val, bool) or not isinstance(val, int):
                raise InvalidProblemError(f"{name} must be an integer, got {val!r}")
        for name in ("seed", "data_seed", "eval_seed", "final_seed"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val < 2**32:
                raise InvalidProblemError(f"{name} must be an integer in [0, 2^32), got {val!r}")
        if self.model not in MODEL_KINDS:
            raise InvalidProblemError(f"model must be one of {', '.join(MODEL_KINDS)}, got {self.model!r}")
        if self.dtype not in _DTYPES:
            raise InvalidProblemError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.amp not in ("off", "bf16"):
            raise InvalidProblemError(f"amp must be off or bf16, got {self.amp!r}")
        if self.mode not in ("auto", "parallel", "chunked", "recurrent"):
            raise InvalidProblemError(f"mode must be auto, parallel, chunked or recurrent, got {self.mode!r}")
        if self.schedule not in _SCHEDULES:
            raise InvalidProblemError(f"schedule must be one of {', '.join(_SCHEDULES)}, got {self.schedule!r}")
        if self.aggregation not in ("mean", "sum"):
            raise InvalidProblemError(f"aggregation must be mean or sum, got {self.aggregation!r}")
        if self.sign_change_start not in (True, False, "auto"):
            raise InvalidProblemError(f"sign_change_start must be true, false or 'auto', got {self.sign_change_start!r}")
        if self.sign_change_start is True and MODEL_KINDS[self.model].gating != "vector":
            raise InvalidProblemError(f"the sign-change start is for vector models only, not {self.model}")
        if not (self.auto_rerun == "auto" or (isinstance(self.auto_rerun, int)
                                               and not isinstance(self.auto_rerun, bool) and self.auto_rerun >= 1)):
            raise InvalidProblemError(f"auto_rerun must be an integer ≥ 1 or 'auto', got {self.auto_rerun!r}")
        if isinstance(self.init_gate_bias, str) and self.init_gate_bias != "auto":
            raise InvalidProblemError(f"init_gate_bias must be a number, None or 'auto', got {self.init_gate_bias!r}")
        if isinstance(self.init_gate_bias, (int, float)) and not math.isfinite(self.init_gate_bias):
            raise InvalidProblemError(f"init_gate_bias must be finite, got {self.init_gate_bias}")
        for name in ("layers", "batch_size", "eval_every", "eval_batch", "num_heads", "key_width_factor"):
            if getattr(self, name) < 1:
                raise InvalidProblemError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("eval_prompts", "final_prompts"):
            if getattr(self, name) < 2:
                raise InvalidProblemError(f"{name} must be ≥ 2, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise InvalidProblemError(f"steps must be ≥ 1, got {self.steps}")
        if self.key_dim is not None and self.key_dim < 1:
            raise InvalidProblemError(f"key_dim must be ≥ 1, got {self.key_dim}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidProblemError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.warmup < 1 or not 0 <= self.min_lr_frac <= 1 or self.clip < 0 or self.weight_decay < 0:
            raise InvalidProblemError("need 0 ≤ warmup < 1, 0 ≤ min_lr_frac ≤ 1, clip ≥ 0, weight_decay ≥ 0")
        if self.restarts < 0 or not 0 < self.restart_at < 1:
            raise InvalidProblemError("need restarts ≥ 0 and 0 < restart_at < 1")
        for name, (lo, hi) in (("restart_threshold", (-math.inf, math.inf)), ("trap_threshold", (0.0, 1.0))):
            val = getattr(self, name)
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float)) or not lo <= val <= hi):
                raise InvalidProblemError(f"{name} must be None or a number in [{lo:g}, {hi:g}], got {val!r}")
        if self.trap_action not in ("restart", "rewrite"):
            raise InvalidProblemError(f"trap_action must be restart or rewrite, got {self.trap_action!r}")
        if self.train_pool < 0 or self.checkpoint_every < 0:
            raise InvalidProblemError("train_pool and checkpoint_every must be ≥ 0")
        if self.gate_lr_mult is not None and not (self.gate_lr_mult > 0 and math.isfinite(self.gate_lr_mult)):
            raise InvalidProblemError(f"gate_lr_mult must be positive, got {self.gate_lr_mult}")
        if not (self.init_value_scale > 0 and math.isfinite(self.init_value_scale)):
            raise InvalidProblemError(f"init_value_scale must be positive, got {self.init_value_scale}")
        if self.threads is not None and self.threads < 1:
            raise InvalidProblemError(f"threads must be ≥ 1, got {self.threads}")

    @classmethod
    def for_model(cls, model: str, **fields_) -> TrainConfig:
        """The config of a ``model`` run: the dataclass defaults, then the family's
        :data:`FAMILY_DEFAULTS`, then ``fields_`` (explicit values always win)."""
        return cls(model=model, **{**FAMILY_DEFAULTS.get(model, {}), **fields_})

    @property
    def prompt_format(self) -> PromptFormat:
        """The token layout of this run's prompts."""
        delim = self.delimiter if self.delimiter is not None else MODEL_KINDS[self.model].delimiter
        return PromptFormat(delimiter=delim, delimiter_value=self.delimiter_value, context=self.context)

    def prompt_format_for(self, problem: Problem) -> PromptFormat:
        """The token layout for ``problem`` (adds the label and feature scales when
        ``normalize_labels``, and the whitened basis or the feature scale of ``whiten_features`` /
        ``normalize_features``)."""
        fmt = self.prompt_format
        if self.normalize_labels:
            fmt = replace(fmt, label_scale=1.0 / math.sqrt(problem.null_risk))
        if self.whiten_features:
            fmt = replace(fmt, feature_basis="whitened")
        elif self.normalize_features and problem.trace_sigma > 0:
            fmt = replace(fmt, feature_scale=math.sqrt(problem.d / problem.trace_sigma))
        return fmt

    def token_dim_for(self, problem: Problem) -> int:
        """Token width D of this config's prompts for ``problem`` (as ``PromptSampler`` lays them out)."""
        fmt = self.prompt_format
        k = problem.num_segments or 1
        return problem.d + (k if fmt.context == "onehot" else 0) + delimiter_dim(fmt.delimiter, k) + 1

    def resolved(self, problem: Problem) -> TrainConfig:
        """This config with the problem-derived defaults filled in: ``lr`` (None →
        :func:`lr_rule` of the token width), ``steps`` (None → :func:`step_budget`, with
        ``steps_rule`` saying how) and ``init_gate_bias`` ("auto" → :func:`gate_bias_rule` of
        the prompt length). Idempotent; explicit values are kept."""
        out = self
        width = self.token_dim_for(problem)
        if out.lr is None:
            out = replace(out, lr=lr_rule(width))
        if out.gate_lr_mult is None:
            out = replace(out, gate_lr_mult=max(1.0, width / LR_RULE["ref_width"]))
        derived = out.steps is None
        if out.sign_change_start == "auto":
            out = replace(out, sign_change_start=MODEL_KINDS[out.model].gating == "vector"
                          and _sign_change_is_material(problem))
        weak = weak_signal_gain(problem, out.model) if derived and out.auto_rerun != 1 else None
        if out.auto_rerun == "auto":  # where it was measured: a derived budget, the sign-change start or a weak signal
            out = replace(out, auto_rerun=AUTO_RERUN_FACTOR if derived and (out.sign_change_start is True
                                                                             or weak is not None) else 1)
        if out.steps is None:
            steps, note = step_budget(out.model, problem.d, problem.num_segments or 1, out.batch_size, out.layers)
            out = replace(out, steps=steps)
            if isinstance(out.auto_rerun, int) and out.auto_rerun > 1:
                note += rerun_rule_note(out, weak, weak_rerun_steps(out, problem))
            out = replace(out, steps_rule=note)
        elif out.steps_rule is None:
            out = replace(out, steps_rule=f"step budget {out.steps}: set explicitly")
        if out.init_gate_bias == "auto":
            gating = MODEL_KINDS[out.model].gating
            if gating == "none":
                out = replace(out, init_gate_bias=None)
            else:
                bias = gate_bias_rule(gating, out.prompt_length(problem),
                                      open_gates=out.sign_change_start is True and gating == "vector")
                out = replace(out, init_gate_bias=round(bias, 6))
        return out

    def prompt_length(self, problem: Problem) -> int:
        """T: the tokens of one prompt (demonstrations, one delimiter per boundary unless the
        format has none, the query), the length the gate-bias rule is written for."""
        k = problem.num_segments or 1
        return problem.n + ((k - 1) if self.prompt_format.delimiter != "none" else 0) + 1

    @property
    def effective_key_width_factor(self) -> int:
        """``key_width_factor``, doubled when ``sign_change_start`` is True (the resolved value;
        "auto" counts as not applied: resolve the config first)."""
        return int(self.key_width_factor) * (2 if self.sign_change_start is True else 1)

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of model and prompts."""
        return _DTYPES[self.dtype]

    def to_dict(self) -> dict:
        """JSON-serialisable dict. ``sign_change_start`` is left out when False (the plain start,
        what every config meant before the field existed) and ``auto_rerun`` when 1 (never
        re-run, the same); :meth:`from_dict` restores both, so the sweep keys and checkpoints of
        runs they do not change stay what they were."""
        out = asdict(self)
        if out["sign_change_start"] is False:
            del out["sign_change_start"]
        if out["auto_rerun"] == 1:
            del out["auto_rerun"]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are errors)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidProblemError(f"unknown training config key(s): {', '.join(unknown)}")
        # A config saved before whiten_features existed trained on the spec's coordinates.
        # A config saved before auto_rerun existed, or with 1 (left out by to_dict), is never re-run.
        return cls(**{"whiten_features": False, "auto_rerun": 1, **data})


def rerun_rule_note(config: TrainConfig, weak: float | None, weak_steps: int | None = None) -> str:
    """What the step-budget line adds about the automatic re-run of ``config`` (``auto_rerun`` > 1;
    ``weak``: :func:`weak_signal_gain` of the problem, ``weak_steps``: :func:`weak_rerun_steps`)
    — ``training._auto_rerun`` applies it."""
    parts = []
    if config.sign_change_start is True:
        parts.append(f"a run that ends outside its tolerance at or below the best one-signed weights' risk is run "
                     f"again once with {config.auto_rerun}× the steps")
    if weak is not None:
        start = ", the plain start" if config.sign_change_start is True else ""
        steps = ("the same steps" if weak_steps in (None, config.steps)
                 else f"the {weak_steps} steps derived for that batch")
        parts.append(f"{'one that ends above it' if parts else 'a run that ends outside its tolerance'} is run again "
                     f"once with {WEAK_SIGNAL_BATCH_FACTOR}× the batch ({WEAK_SIGNAL_BATCH_FACTOR * config.batch_size} "
                     f"prompts per step{start}) and {steps}, as the {MODEL_KINDS[config.model].classes[0]} optimum "
                     f"is only {weak:.1%} below predicting zero (under {WEAK_SIGNAL_GAIN:.0%}), and so is one "
                     "converged only by chance (predicting zero inside its interval)")
    elif parts:
        parts.append("one that ends above it once with the plain start")
    return "; " + ", ".join(parts) + ", and the better run is kept (--auto-rerun)" if parts else ""


def _sign_change_excess(problem: Problem) -> float | None:
    """``references.one_signed_excess`` where the vector optimum's weights change sign, 0.0 where
    they do not, None when an optimum cannot be computed (the run's references then say why)."""
    try:
        return one_signed_excess(problem) if vector_weights_change_sign(problem) else 0.0
    except WPGDError:
        return None


def _sign_change_is_material(problem: Problem) -> bool:
    """Whether "auto" applies the sign-change start: the vector optimum's weights change sign and
    one-signed weights would cost at least :data:`SIGN_CHANGE_MATERIAL` of risk. False (the plain
    start) when an optimum cannot be computed: nothing here decides on a guess."""
    excess = _sign_change_excess(problem)
    return excess is not None and excess >= SIGN_CHANGE_MATERIAL


def sign_change_start_note(config: TrainConfig, problem: Problem) -> str | None:
    """The line ``wpgd train`` prints under the step budget for a resolved vector config whose
    optimum's weights change sign: with the start applied, why, the key width and the gates' total
    initial decay it starts with; without it, why not (the sign change is immaterial, or the start
    was switched off). None where there is nothing to say (other families, one-signed optima)."""
    if MODEL_KINDS[config.model].gating != "vector":
        return None
    excess = _sign_change_excess(problem)
    if config.sign_change_start is not True:
        if not excess:
            return None
        if excess < SIGN_CHANGE_MATERIAL:
            return (f"sign-change start: not applied: the vector optimum's weights change sign, but the best "
                    f"one-signed weights are only {100 * excess:.2f}% worse (the start applies from "
                    f"{100 * SIGN_CHANGE_MATERIAL:g}%); --sign-change-start on applies it")
        return None  # switched off by the user (--sign-change-start off)
    seq_len = config.prompt_length(problem)
    width = default_key_dim(config, problem, config.token_dim_for(problem))
    bias = config.init_gate_bias
    decay = f"total initial decay {seq_len * math.exp(-float(bias)):.3g} across the prompt" if isinstance(
        bias, (int, float)) else "the layer's own gate bias"
    widened = (f"the key width is doubled (key width {width})" if config.key_dim is None
               else f"the key width is the one given (key width {width}; the start would double the default)")
    if excess is None:  # the optimum could not be computed: the start was asked for
        why = "the vector optimum's weights change sign"
    elif excess:
        why = f"the vector optimum's weights change sign (the best one-signed weights are {100 * excess:.2f}% worse)"
    else:  # one-signed optimum, start switched on by the user
        why = "--sign-change-start on"
    return (f"sign-change start: {why}, so {widened} "
            f"and the gates start with {decay} (the plain start: "
            f"{GATE_DECAY['vector']:g}); --sign-change-start off for the plain start")


def default_key_dim(config: TrainConfig, problem: Problem, token_dim: int) -> int:
    """Key width: ``config.key_dim`` if given, else ``effective_key_width_factor`` times the vector-gating
    construction's width for ``vector`` (``gla.default_key_width``: 2d) or the token width
    otherwise (linear and scalar WPGD need only the d feature channels). A vector model wider
    than 2d has the same class optimum (every ω with a rank-d P is reachable at 2d)."""
    from wpgd.numerics.core.vocabulary import trained_key_width

    return trained_key_width(config.model, problem.d, problem.num_segments or 1, token_dim, config.key_dim,
                             config.effective_key_width_factor)


def build_model(config: TrainConfig, token_dim: int, key_dim: int) -> torch.nn.Module:
    """A randomly initialised ``wpgd.numerics.nn.gla.GLAModel`` for the config (seeded by ``config.seed``),
    its value projections scaled by ``config.init_value_scale``, gate biases set to a numeric
    ``config.init_gate_bias`` (resolve "auto" first with :meth:`TrainConfig.resolved`)."""
    if config.init_gate_bias == "auto":
        raise InvalidProblemError("init_gate_bias 'auto' needs the problem: call config.resolved(problem) first")
    from wpgd.numerics.nn.gla import GLAModel

    if key_dim % config.num_heads:
        raise InvalidProblemError(
            f"the key width {key_dim} is not divisible by the number of heads {config.num_heads} "
            "(choose --key-dim as a multiple of --heads)")
    torch.manual_seed(config.seed)
    gating = MODEL_KINDS[config.model].gating
    mode = config.mode if config.mode != "auto" else ("chunked" if gating == "vector" else "parallel")
    model = GLAModel(
        token_dim=token_dim,
        key_dim=key_dim,
        num_layers=config.layers,
        gating=gating,
        num_heads=config.num_heads,
        mode=mode,
        dtype=config.torch_dtype,
        device=config.device,
        aggregation=config.aggregation,
        **({} if config.init_gate_bias is None else {"gate_bias": float(config.init_gate_bias)}),
    )
    with torch.no_grad():
        for layer in model.layers:
            if config.init_value_scale != 1.0:
                layer.W_v.mul_(config.init_value_scale)
            if config.init_tied_qk:
                tie_qk_(layer.W_q, layer.W_k, signed_groups=config.init_signed_groups,
                        label_free=config.init_label_split)
            if config.init_label_split:
                layer.W_q[:, :, -1] = 0
                layer.W_k[:, :, -1] = 0
                layer.W_v[:, -1, :-1] = 0
    return model


def tie_qk_(W_q: torch.Tensor, W_k: torch.Tensor, *, signed_groups: bool = False,
            label_free: bool = False) -> None:
    """In place, without autograd: ``W_q`` (shape [heads, key, token]) a random (semi-)orthogonal
    matrix per head and ``W_k`` equal to it (``init_tied_qk``: the score form starts at the identity
    on the token space). ``signed_groups`` (``init_signed_groups``): the key channels of each head
    start as two groups, each its own orthogonal matrix, the second with ``W_q = −W_k`` scaled by
    :data:`SIGNED_GROUP_SCALE` (the u and v groups of ω = u − v). ``label_free``
    (``init_label_split``): the orthogonal matrices span the token coordinates before the label
    (the last), whose column starts at 0, so no key reads the label at initialisation."""
    half = W_q.shape[1] // 2 if signed_groups else 0
    cols = W_q.shape[2] - 1 if label_free and W_q.shape[2] > 1 else W_q.shape[2]
    with torch.no_grad():
        for h in range(W_q.shape[0]):
            if half:
                torch.nn.init.orthogonal_(W_q[h, :half, :cols])
                torch.nn.init.orthogonal_(W_q[h, half:, :cols])
            else:
                torch.nn.init.orthogonal_(W_q[h, :, :cols])
        W_q[:, :, cols:] = 0
        W_k.copy_(W_q)
        if half:
            W_q[:, half:].mul_(SIGNED_GROUP_SCALE)
            W_k[:, half:].mul_(-SIGNED_GROUP_SCALE)


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (for CLI flags left unset)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
