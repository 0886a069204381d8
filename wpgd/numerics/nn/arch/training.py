"""Train one layer of a published architecture on fresh prompts and compare it with its class optimum.

:func:`train_architecture` reuses the project's trainer piece by piece, so that an architecture is
trained exactly as ``wpgd train`` trains a GLA (docs/training.md): the frozen
:class:`~wpgd.numerics.nn.train_config.TrainConfig` (label and feature scaling, the derived step
budget, learning-rate rule, "mean" aggregation, tied query/key initialisation, the gate
learning-rate group), :func:`~wpgd.numerics.nn.train_loop.run_loop` (AdamW, warm-up + cosine,
clipping, periodic held-out evaluation, plateau restarts from a fresh initialisation) and
:func:`~wpgd.numerics.nn.evaluation.evaluate` (held-out risk with a block-bootstrap 95% CI and the
class optimum as control variate). What differs: the model (:func:`arch_model`), its initial
decays (the trainer's :data:`~wpgd.numerics.nn.train_config.GATE_DECAY` rule, per architecture
parametrisation), and the reference, which is the architecture's own optimum
(:func:`wpgd.numerics.core.atlas.architecture_optimum`) rather than a GLA family's.
Nothing is written to disk (no run folder, no checkpoints).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from wpgd.numerics.core.atlas import architecture_optimum
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import Result, json_clean
from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES, ARCHITECTURES, ATLAS_CONTEXTS, vector_key_width
from wpgd.numerics.nn.evaluation import HeldOutSet, evaluate, make_control
from wpgd.numerics.nn.prompts import PromptSampler, make_generator
from wpgd.numerics.nn.train_config import GATE_DECAY, TrainConfig
from wpgd.numerics.nn.train_loop import RunState, make_optimiser, run_loop

from .registry import arch_model

__all__ = ["ArchTrainResult", "DEFAULT_TOLERANCE", "GATES_READ", "arch_theory", "arch_train_config", "train_architecture"]

DEFAULT_TOLERANCE = 0.03
"""A run has landed when its held-out risk is at most 3% above the architecture's class optimum."""
_RESTART_SEED_STRIDE = 1000


@dataclass(frozen=True, repr=False)
class ArchTrainResult(Result):
    """A trained one-layer architecture against its class optimum (result conventions:
    :mod:`wpgd.numerics.core.results`).

    ``status``: "converged" (the held-out risk is at most ``tolerance`` above the class optimum;
    a risk *below* it is also "converged", and the message says that the model left the WPGD
    class), "not_converged" (more than ``tolerance`` above it), "trained" (no WPGD form, so no
    class optimum: DeltaNet and Gated DeltaNet) or "plateau" (a model without a reference still
    more than halfway from the linear-attention optimum to the zero predictor).

    Attributes:
        name: the architecture.
        normalized_risk: held-out risk / null risk (control-variate estimate when a reference exists).
        ci_low, ci_high: its 95% block-bootstrap interval (normalised).
        risk: raw held-out risk (units of y²).
        steps: optimiser steps of the final attempt.
        seed: the model-initialisation seed.
        budget_note: how the step budget was chosen.
        context: the prompt context ("none" or "onehot").
        theory_normalized_risk: the architecture's class optimum (normalised), or None.
        theory_label: its caption, or None.
        gap: ``normalized_risk / theory_normalized_risk − 1`` (None without a reference).
        gap_ci: the gap at the ends of the interval.
        tolerance: the allowed gap.
        linear_normalized_risk: the linear-attention optimum (normalised), for context.
        attempts: initialisations tried (plateau restarts + 1).
        train_seconds: wall time of the optimisation.
        key_dim: the model's key width.
        status, message: see above.
        history: the periodic held-out evaluations.
        model: the trained model (not serialised).
    """

    name: str
    normalized_risk: float
    ci_low: float
    ci_high: float
    risk: float
    steps: int
    seed: int
    budget_note: str
    context: str
    theory_normalized_risk: float | None
    theory_label: str | None
    gap: float | None
    gap_ci: list | None
    tolerance: float
    linear_normalized_risk: float
    attempts: int
    train_seconds: float
    key_dim: int
    status: str
    message: str
    history: list = field(default_factory=list)
    model: torch.nn.Module | None = field(default=None, compare=False)

    @property
    def converged(self) -> bool:
        """True for "converged" and "trained" (a model without a reference that left the plateau)."""
        return self.status in ("converged", "trained")

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-native dict of every attribute but ``model`` (and ``history`` only with ``arrays``)."""
        out = {k: getattr(self, k) for k in (
            "name", "normalized_risk", "ci_low", "ci_high", "risk", "steps", "seed", "budget_note", "context",
            "theory_normalized_risk", "theory_label", "gap", "gap_ci", "tolerance", "linear_normalized_risk",
            "attempts", "train_seconds", "key_dim", "status", "message")}
        out["converged"] = self.converged
        if arrays:
            out["history"] = self.history
        return json_clean(out)

    def summary(self) -> str:
        """One line: architecture, trained risk with CI, class optimum, gap, verdict."""
        theory = "no class optimum" if self.theory_normalized_risk is None else (
            f"class optimum {self.theory_normalized_risk:.5f}, gap {self.gap:+.2%}")
        return (f"{self.name}: trained {self.normalized_risk:.5f} [{self.ci_low:.5f}, {self.ci_high:.5f}], "
                f"{theory}: {self.status}")

    def __repr__(self) -> str:
        return (f"ArchTrainResult(name={self.name!r}, normalized_risk={self.normalized_risk:.6g}, "
                f"theory={self.theory_normalized_risk}, status={self.status!r})")


def _family(name: str) -> str:
    """The ``wpgd train`` family whose step budget the architecture shares: "scalar" (×1) for
    RetNet, whose decays are fixed, and "vector" (``STEP_BUDGET["vector_factor"]`` multiplies the
    transient: 15 500 steps at d = 4–5; the atlas measurements were made at ×5 of the whole budget,
    5500 steps) for every architecture whose gate maps read the token. Measured
    (docs/atlas/implementation.md): at the ×1 budget Mamba2 missed
    its class optimum by 4.1% on a three-segment prompt (+1.0% at ×3) and mLSTM by 11% (+2.7% at ×3.7)."""
    return "scalar" if ARCHITECTURES[name].gating == "fixed" else "vector"


def arch_key_dim(name: str, problem: Problem, token_dim: int, factor: int = 1) -> int:
    """The key width trained: ``factor`` times the vector construction's 2d (d for one segment) for
    per-channel decays (``wpgd train``'s vector family trains at factor 2: 4d), the token width
    otherwise (as ``wpgd train``)."""
    if ARCHITECTURES[name].gating == "vector":
        return int(factor) * vector_key_width(problem.d, problem.num_segments or 1)
    return token_dim


def arch_train_config(problem: Problem, name: str, *, steps: int | None = None, seed: int = 0, device: str = "cpu",
                      context: str = "none", eval_prompts: int | None = None, progress: bool = False,
                      **overrides) -> TrainConfig:
    """The resolved :class:`TrainConfig` of a :func:`train_architecture` run (the trainer's defaults,
    boundary delimiters, the family's step budget); ``overrides`` replace any other field."""
    if name not in ARCHITECTURES:
        raise InvalidProblemError(f"architecture must be one of {', '.join(ARCHITECTURE_NAMES)}, got {name!r}")
    if context not in ATLAS_CONTEXTS:
        raise InvalidProblemError(f"context must be one of {', '.join(ATLAS_CONTEXTS)}, got {context!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    # the vector family's signed start (init_signed_groups, key_width_factor 2) is opt-in through
    # overrides, not the default: it lands GLA/RWKV-6 on prompts that need weights of both signs but
    # traps a d = 2 prompt that the plain start solves (docs/atlas/implementation.md)
    fields_ = {"model": _family(name), "delimiter": "boundary" if problem.is_segmented else "none",
               "context": context, "seed": seed, "device": device, "progress": progress,
               "init_signed_groups": False, "key_width_factor": 1, **overrides}
    if steps is not None:
        fields_["steps"] = steps
    if eval_prompts is not None:
        fields_["final_prompts"] = eval_prompts
    return TrainConfig(**fields_).resolved(problem)


def arch_theory(problem: Problem, name: str, *, context: str = "none", key_width: int | None = None):
    """The architecture's class optimum (:func:`wpgd.numerics.core.atlas.architecture_optimum`), or
    None for an architecture without a WPGD form."""
    if not ARCHITECTURES[name].wpgd_form:
        return None
    vector = ARCHITECTURES[name].gating == "vector"
    return architecture_optimum(problem, name, context=context, key_width=key_width if vector else None)


GATES_READ = ("token", "structure")
"""What the trained gate maps read: the whole token (as published) or only the context and delimiter
coordinates (as under the construction; a diagnostic)."""


def _factory(name: str, config: TrainConfig, token_dim: int, key_dim: int, seq_len: int, keep=None):
    """``attempt -> (model, params, optimiser, scheduler)`` with a fresh initialisation per attempt."""
    log_decay = -GATE_DECAY["vector" if ARCHITECTURES[name].gating == "vector" else "scalar"] / seq_len

    def fresh(attempt: int):
        torch.manual_seed(config.seed + _RESTART_SEED_STRIDE * attempt)
        model = arch_model(name, token_dim, key_dim=key_dim, dtype=config.torch_dtype, device=config.device,
                           aggregation=config.aggregation)
        model.init_decay(log_decay)
        model.restrict_gates(keep)
        with torch.no_grad():
            model.W_v.mul_(config.init_value_scale)
        if config.init_tied_qk:
            model.tie_qk(signed_groups=config.init_signed_groups)
        return (model, *make_optimiser(config, model))

    return fresh


def train_architecture(problem: Problem, name: str, *, steps: int | None = None, seed: int = 0,
                       device: str = "cpu", context: str = "none", eval_prompts: int | None = None,
                       progress: bool = False, tolerance: float = DEFAULT_TOLERANCE, config: TrainConfig | None = None,
                       theory=None, gates_read: str = "token") -> ArchTrainResult:
    """Train one layer of ``name`` on fresh prompts of ``problem`` and evaluate it against its class optimum.

    Args:
        problem: the setting.
        name: an architecture (:data:`~wpgd.numerics.core.vocabulary.ARCHITECTURE_NAMES`).
        steps: optimiser steps; None = the trainer's derived budget (vector gating's, with its longer
            transient, for data-dependent gates: every architecture but RetNet).
        seed: model-initialisation seed (restarts use seed + 1000·attempt).
        device: "cpu", "cuda" or "auto" (CUDA when available).
        context: "none" (the paper's prompt) or "onehot" (each demonstration carries its segment one-hot).
        eval_prompts: fresh prompts of the final evaluation (default the trainer's 100 000).
        progress: progress bars on stderr.
        tolerance: allowed relative gap above the class optimum.
        config: a ready config (from :func:`arch_train_config`) instead of the keyword settings.
        theory: the class optimum to compare with (anything with ``P``, ``omega``, ``risk``,
            ``label``), instead of :func:`arch_theory`.
        gates_read: "token" (the gate maps read the whole token, as published) or "structure"
            (only the context and delimiter coordinates, as under the construction: a diagnostic
            of what data-dependent gates add; :meth:`ArchModel.restrict_gates`).

    Returns:
        An :class:`ArchTrainResult`.

    Raises:
        InvalidProblemError: unknown architecture or context, or a context without segments.
        TrainingDivergedError: the loss became non-finite.
        TrainingInterrupted: SIGINT/SIGTERM.
    """
    config = config or arch_train_config(problem, name, steps=steps, seed=seed, device=device, context=context,
                                         eval_prompts=eval_prompts, progress=progress)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    sampler = PromptSampler(problem, config.prompt_format_for(problem), dtype=config.torch_dtype, device=config.device)
    key_dim = arch_key_dim(name, problem, sampler.token_dim, config.key_width_factor)
    if theory is None:
        theory = arch_theory(problem, name, context=config.context, key_width=key_dim)
    if gates_read not in GATES_READ:
        raise InvalidProblemError(f"gates_read must be one of {', '.join(GATES_READ)}, got {gates_read!r}")
    keep = None
    if gates_read == "structure":
        keep = [0.0] * problem.d + [1.0] * (sampler.token_dim - problem.d - 1) + [0.0]
    fresh = _factory(name, config, sampler.token_dim, key_dim, sampler.seq_len, keep)
    run = RunState(*fresh(0), gen=make_generator(config.data_seed, config.device))
    run.probe = int(round(config.restart_at * config.steps)) if config.restarts else 0
    t0 = time.perf_counter()
    run_loop(run, problem, config, sampler, config.steps, fresh, lambda: None, None, None)
    seconds = time.perf_counter() - t0
    nr = problem.null_risk
    control = make_control(problem) if theory is None else make_control(
        problem, np.asarray(theory.omega), np.asarray(theory.P), f"{name} class optimum")
    heldout = HeldOutSet(sampler, config.final_prompts, config.final_seed, batch_size=config.eval_batch, cache=False)
    run.model.eval()
    plain, cv = evaluate(run.model, heldout, control, seed=config.final_seed,
                         progress=f"evaluate {name}" if config.progress else False)
    head = cv if cv is not None else plain
    lin = make_control(problem).risk / nr
    norm, lo, hi = head.mean / nr, head.ci_low / nr, head.ci_high / nr
    if theory is not None:
        ref = float(theory.risk) / nr
        gap, gap_ci = norm / ref - 1, [lo / ref - 1, hi / ref - 1]
        text = (f"trained {norm:.5f} is {gap:+.2%} from the {name} class optimum {ref:.5f} (tolerance "
                f"{tolerance:.0%}, 95% CI of the gap [{gap_ci[0]:+.2%}, {gap_ci[1]:+.2%}])")
        status = "converged" if gap <= tolerance else "not_converged"
        if gap < -tolerance:
            text += "; below the class optimum: the trained model computes a predictor outside the class's WPGD set"
        label = getattr(theory, "label", f"{name} class optimum")
    else:
        ref = gap = gap_ci = label = None
        stuck = (norm - lin) > config.restart_threshold * max(1.0 - lin, 0.0)
        status = "plateau" if stuck else "trained"
        text = (f"{name} has no WPGD form (no class optimum): trained {norm:.5f} "
                f"(linear-attention optimum {lin:.5f}){'; still on the plateau' if stuck else ''}")
    return ArchTrainResult(
        name=name, normalized_risk=norm, ci_low=lo, ci_high=hi, risk=head.mean, steps=config.steps,
        seed=config.seed, budget_note=config.steps_rule or "", context=config.context, theory_normalized_risk=ref,
        theory_label=label, gap=gap, gap_ci=gap_ci, tolerance=tolerance, linear_normalized_risk=lin,
        attempts=run.attempt + 1, train_seconds=seconds, key_dim=key_dim, status=status, message=text,
        history=run.history, model=run.model)


