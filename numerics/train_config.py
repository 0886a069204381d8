"""The frozen configuration of a training run, and the model it builds.

:class:`TrainConfig` holds every setting of :func:`numerics.training.train` and is dumped to the
run folder's ``config.json``; :func:`build_model` turns it into a randomly initialised
``numerics.gla.GLAModel`` (docs/training.md explains the initialisation and optimiser choices).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch

from .errors import InvalidProblemError
from .problem import Problem
from .prompts import PromptFormat
from .references import MODEL_KINDS

__all__ = ["FAMILY_DEFAULTS", "TrainConfig", "default_key_dim", "build_model", "with_overrides"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_SCHEDULES = ("cosine", "constant")

FAMILY_DEFAULTS = {
    "vector": {"steps": 6000, "init_gate_bias": None, "restarts": 0},
}
"""Per-family departures from the :class:`TrainConfig` defaults, applied by
:meth:`TrainConfig.for_model` (``wpgd train``, the experiments). Vector-gated models at the
construction's key width 2d leave the linear-attention plateau later and converge more slowly:
in the reversed panel (d = 10) they ended 3–11% above the optimum after 1000 steps, and at
n = 10 2.97–4.65% (three seeds) after 3000 steps, 1.26–2.67% after 6000. So they get 6000 steps,
the module's gate bias 3.0 (key channels start at different, data-dependent decays) and no
plateau restarts (a restart at 30% cut off runs that were escaping). docs/training.md."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (dumped to ``config.json``).

    Attributes:
        model: "linear", "scalar", "scalar-nodelim" or "vector" (see ``numerics.references``).
        layers: number of GLA layers (1–3 in the experiments).
        key_dim: key width; None = the model family's default (see :func:`default_key_dim`).
        num_heads: attention heads.
        mode: GLA kernel of the layers below the last: "parallel", "chunked", "recurrent", or
            "auto" (chunked for vector gating, whose masked parallel form costs O(T²·K) memory
            per prompt; parallel otherwise). The last layer is always evaluated at the query
            position only (``gla.last_query_gla``), so one-layer models never form T×T scores.
        init_value_scale: multiplies the value projections ``W_v`` of the random initialisation.
            With the module's default scale the initial output is mostly noise; the optimiser
            first shrinks every projection and some seeds then sit for thousands of steps on the
            plateau near risk 1 (the saddle at zero). A smaller value init (0.1) avoids that
            (docs/training.md). 1.0 keeps ``GLAModel``'s initialisation unchanged.
        init_gate_bias: initial gate bias ``b_g`` (None = ``GLAModel``'s 3.0). 6.0 starts every
            gate near 1 (g ≈ 0.9975): the model starts close to linear attention and sees the
            whole prompt; with 3.0 (g ≈ 0.95) tokens 40 positions back start at weight ≈ 0.13.
        gate_lr_mult: learning-rate multiplier of the gate parameters (``W_g``, ``b_g``);
            1 by default (larger values made plateaus more frequent, docs/training.md).
        restarts: how many times a run still on the plateau is restarted from a fresh
            initialisation (seed + 1000·attempt); 0 = never.
        restart_at: when the plateau test is made, as a fraction of ``steps``.
        restart_threshold: the run counts as stuck when its held-out normalised risk at the probe
            is more than this fraction of the way from the linear-attention optimum ``L_lin``
            (reachable by every model family) up to 1 (predicting zero):
            ``(risk − L_lin)/(1 − L_lin) > restart_threshold``.
        delimiter: "none", "flag" or "label"; None = the family's default.
        delimiter_value: value written in the delimiter slot.
        context: "none" or "onehot" (per-segment context features).
        normalize_labels: write labels into the tokens in units of their standard deviation
            ``√(r_q tr Σ + σ²)`` (a change of units; risks are reported in units of y). Raw
            labels are ~√d times larger than each feature, so a random key or query reads mostly
            the label, which favours a rank-one trap (docs/training.md).
        steps: optimiser steps.
        batch_size: fresh prompts per step.
        train_pool: 0 = fresh prompts every step; > 0 = a fixed pool of that many prompts.
        lr: peak learning rate.
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
    init_value_scale: float = 0.1
    init_gate_bias: float | None = 6.0
    gate_lr_mult: float = 1.0
    restarts: int = 4
    restart_at: float = 0.3
    restart_threshold: float = 0.5
    delimiter: str | None = None
    delimiter_value: float = 1.0
    context: str = "none"
    normalize_labels: bool = True
    steps: int = 1000
    batch_size: int = 256
    train_pool: int = 0
    lr: float = 1e-2
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
                     "final_prompts", "train_pool", "checkpoint_every", "restarts"):
            val = getattr(self, name)
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
        for name in ("layers", "steps", "batch_size", "eval_every", "eval_batch", "num_heads"):
            if getattr(self, name) < 1:
                raise InvalidProblemError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("eval_prompts", "final_prompts"):
            if getattr(self, name) < 2:
                raise InvalidProblemError(f"{name} must be ≥ 2, got {getattr(self, name)}")
        if self.key_dim is not None and self.key_dim < 1:
            raise InvalidProblemError(f"key_dim must be ≥ 1, got {self.key_dim}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidProblemError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.warmup < 1 or not 0 <= self.min_lr_frac <= 1 or self.clip < 0 or self.weight_decay < 0:
            raise InvalidProblemError("need 0 ≤ warmup < 1, 0 ≤ min_lr_frac ≤ 1, clip ≥ 0, weight_decay ≥ 0")
        if self.restarts < 0 or not 0 < self.restart_at < 1:
            raise InvalidProblemError("need restarts ≥ 0 and 0 < restart_at < 1")
        if self.train_pool < 0 or self.checkpoint_every < 0:
            raise InvalidProblemError("train_pool and checkpoint_every must be ≥ 0")
        if not (self.gate_lr_mult > 0 and math.isfinite(self.gate_lr_mult)):
            raise InvalidProblemError(f"gate_lr_mult must be positive, got {self.gate_lr_mult}")
        if not (self.init_value_scale > 0 and math.isfinite(self.init_value_scale)):
            raise InvalidProblemError(f"init_value_scale must be positive, got {self.init_value_scale}")
        if self.threads is not None and self.threads < 1:
            raise InvalidProblemError(f"threads must be ≥ 1, got {self.threads}")

    @classmethod
    def for_model(cls, model: str, **fields_) -> "TrainConfig":
        """The config of a ``model`` run: the dataclass defaults, then the family's
        :data:`FAMILY_DEFAULTS`, then ``fields_`` (explicit values always win)."""
        return cls(model=model, **{**FAMILY_DEFAULTS.get(model, {}), **fields_})

    @property
    def prompt_format(self) -> PromptFormat:
        """The token layout of this run's prompts."""
        delim = self.delimiter if self.delimiter is not None else MODEL_KINDS[self.model].delimiter
        return PromptFormat(delimiter=delim, delimiter_value=self.delimiter_value, context=self.context)

    def prompt_format_for(self, problem: Problem) -> PromptFormat:
        """The token layout for ``problem`` (adds the label scale when ``normalize_labels``)."""
        fmt = self.prompt_format
        if self.normalize_labels:
            fmt = replace(fmt, label_scale=1.0 / math.sqrt(problem.null_risk))
        return fmt

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of model and prompts."""
        return _DTYPES[self.dtype]

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict` (unknown keys are errors)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidProblemError(f"unknown training config key(s): {', '.join(unknown)}")
        return cls(**data)


def default_key_dim(config: TrainConfig, problem: Problem, token_dim: int) -> int:
    """Key width: the vector-gating construction's width for ``vector`` (``gla.default_key_width``),
    the token width otherwise (linear and scalar WPGD need only the d feature channels)."""
    if config.key_dim is not None:
        return int(config.key_dim)
    if MODEL_KINDS[config.model].gating == "vector":
        from .gla import default_key_width

        return int(default_key_width(problem.d, problem.num_segments or 1))
    return int(token_dim)


def build_model(config: TrainConfig, token_dim: int, key_dim: int) -> torch.nn.Module:
    """A randomly initialised ``numerics.gla.GLAModel`` for the config (seeded by ``config.seed``),
    its value projections scaled by ``config.init_value_scale``."""
    from .gla import GLAModel

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
    )
    with torch.no_grad():
        for layer in model.layers:
            if config.init_value_scale != 1.0:
                layer.W_v.mul_(config.init_value_scale)
            if config.init_gate_bias is not None and getattr(layer, "b_g", None) is not None:
                layer.b_g.fill_(config.init_gate_bias)
    return model


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (for CLI flags left unset)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
