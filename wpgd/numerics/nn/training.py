"""Train a gated-linear-attention model on fresh multitask prompts, with exact resume.

One run = one frozen :class:`TrainConfig` + one :class:`~wpgd.numerics.core.problem.Problem`. The run
folder holds::

    config.json      the config, the problem, the token format (written first)
    checkpoint.pt    model, optimizer, scheduler, generator state and step (atomic, digested)
    history.json     periodic held-out evaluations (training curve)
    metrics.json     final held-out risk with bootstrap CIs, theory references, gaps and the
                     convergence verdict ("status": "converged" | "not_converged", "reason")

Loss: the squared error of the label read-out at the query position, divided by
``problem.null_risk`` (so the progress bar shows the normalised risk). Optimiser: AdamW with
linear warm-up then cosine (or constant) learning rate and gradient-norm clipping. A run is
deterministic given its seeds on a given device and thread count; a run interrupted at any
checkpoint (or by Ctrl-C / SIGTERM, which write one) continues bit-for-bit.

Run management (docs/training-runs.md):

* **Resume.** Calling :func:`train` again with the same config and ``out_dir`` continues from
  the checkpoint; a finished run is not retrained: its ``metrics.json`` is returned
  (``TrainResult.already_complete``).
* **Extend.** The config fingerprint excludes ``steps``: a larger ``steps`` continues a run
  (finished or not) up to the new count. The extension follows the learning-rate schedule of a
  run planned with the new count, from the current step on (for the default cosine schedule
  the rate goes back up to its value at that point of the longer schedule, then decays to the
  end); plateau restarts are not re-armed. An extended run is therefore not bit-identical to a
  run started with the larger count; a plain resume is. Fewer steps than planned is refused.
* **Automatic re-run.** A run with ``auto_rerun`` > 1 (resolved from "auto" for a vector model
  with a derived budget and the sign-change start) that ends outside its tolerance at
  or below the best one-signed weights' risk (``convergence.one_signed_position``), not in the
  label trap, is run again once from the same start with ``auto_rerun`` times its steps (exactly
  the run of that many steps); one that ends above that risk is run again once with the plain
  start and the same steps (exactly that run). Of the two, the better on the periodic held-out
  set is kept (``_keep_better``: ``FIRST_RUN_FILE``, ``RERUN_FILE``); ``metrics.json`` records it
  under ``"auto_rerun"`` with the first run's evaluation. Its checkpoint records it too, so the
  same call resumes it (the derived budget and the start are then read as the re-run's).
* **Interrupt.** SIGINT (Ctrl-C) and SIGTERM stop the loop at the next step boundary, write a
  checkpoint and raise :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) carrying the saved
  step and the signal.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from wpgd.numerics.core.convergence import convergence_status, in_label_trap, one_signed_position
from wpgd.numerics.core.errors import InvalidProblemError, ResourceLimitError, WPGDError
from wpgd.numerics.core.fileio import to_jsonable, write_atomic, write_json_atomic
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.references import one_signed_risk, theory_references, weights_change_sign
from wpgd.numerics.core.vocabulary import MODEL_KINDS
from wpgd.numerics.nn.checkpoint import CheckpointError, load_checkpoint as _load, restore, save_checkpoint
from wpgd.numerics.nn.evaluation import HeldOutSet, evaluate, make_control
from wpgd.numerics.nn.gla import DEFAULT_GATE_BIAS
from wpgd.numerics.nn.host_memory import retain_freed_memory
from wpgd.numerics.nn.label_trap import TRAP_MIN_STEP, label_trap_share
from wpgd.numerics.nn.prompts import PromptSampler, make_generator
from wpgd.numerics.nn.step_timing import require_run
from wpgd.numerics.nn.train_config import (
    RECENCY_DECAY_FACTOR,
    WEAK_SIGNAL_BATCH_FACTOR,
    WEAK_SIGNAL_GAIN,
    TrainConfig,
    build_model,
    default_key_dim,
    weak_gain,
    weak_rerun_steps,
    with_overrides,
)
from wpgd.numerics.nn.train_loop import (
    RunState,
    TrainingDivergedError,
    TrainingInterrupted,
    interrupt_handlers,
    lr_factor,
    make_optimiser,
    restore_handlers,
    run_loop,
)

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "build_model",
    "checkpoint_matches",
    "default_key_dim",
    "final_metrics",
    "load_checkpoint",
    "train",
    "with_overrides",
]

# Fields that may differ between a checkpoint and the run resuming it: they do not change the
# trajectory, or (steps) they extend it on a documented schedule.
_NON_SEMANTIC = {"checkpoint_every", "progress", "steps", "steps_rule", "auto_rerun"}
_RESTART_SEED_STRIDE = 1000
FIRST_RUN_FILE = "first_run.pt"  # the first run's final checkpoint, beside an automatic re-run
RERUN_FILE = "rerun.pt"  # the automatic re-run's final checkpoint, where the first run was kept


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model.
        metrics: the content of ``metrics.json`` (empty when stopped early).
        history: periodic evaluations (list of dicts).
        resumed_from: the checkpoint step the run continued from (None for a fresh start).
        extended_from: the planned steps of the run this call extended (None otherwise).
        already_complete: the run was finished before this call; ``metrics`` are the saved ones.
    """

    model: torch.nn.Module
    metrics: dict
    history: list
    resumed_from: int | None = None
    extended_from: int | None = None
    already_complete: bool = False

    @property
    def status(self) -> str | None:
        """"converged", "not_converged" (see :mod:`wpgd.numerics.core.convergence`), or None when stopped early."""
        return self.metrics.get("status")

    @property
    def converged(self) -> bool:
        """Whether the run ended within its tolerance of its class's optimum."""
        return self.status == "converged"


def load_checkpoint(path) -> dict:
    """Load and validate a checkpoint written by :func:`train` (tensors only; no pickled code).

    Raises:
        CheckpointError: damaged, truncated, foreign or incomplete (``wpgd.numerics.nn.checkpoint``).
    """
    return _load(path)


def _semantic(cfg: dict) -> dict:
    """The trajectory-defining fields, after a round trip through TrainConfig (fields added since a
    checkpoint was written take their defaults)."""
    cfg = TrainConfig.from_dict(cfg).to_dict()
    return {k: v for k, v in cfg.items() if k not in _NON_SEMANTIC}


def checkpoint_matches(path, config: TrainConfig, problem: Problem) -> bool:
    """Whether the checkpoint at ``path`` can be continued by this config and problem: the same
    settings except the non-semantic ones, and at least as many steps (more = an extension).

    Raises:
        CheckpointError: the checkpoint is unreadable.
    """
    state = load_checkpoint(path)
    config = _as_rerun(state, config.resolved(problem))  # as train() stores it (derived defaults filled in)
    return (_semantic(state["config"]) == _semantic(config.to_dict()) and state["problem"] == _fingerprint(problem)
            and config.steps >= int(state["config"]["steps"]))


def _as_rerun(state: dict, config: TrainConfig) -> TrainConfig:
    """``config`` with the steps (and their rule) and the start (``changes``: the plain start's
    fields) of the checkpoint ``state`` where that is the automatic re-run of a run of
    ``config.steps`` (``_auto_rerun``), so that the call that started it continues it; ``config``
    unchanged otherwise, and where the checkpoint is the first run, kept (``_keep_better``)."""
    auto, planned = state.get("auto_rerun"), int(state["config"]["steps"])
    if auto and auto.get("kept") != "first" and int(auto["from"]) == config.steps and int(auto["to"]) == planned:
        return replace(config, steps=planned, steps_rule=state["config"].get("steps_rule") or config.steps_rule,
                       **auto.get("changes", {}))
    return config


def _saved_state(ckpt_path, config: TrainConfig, problem: Problem) -> tuple[dict | None, TrainConfig]:
    """The checkpoint to continue (validated), or None, and the config to continue it with: the
    given one, or, for the automatic re-run of a run of ``config.steps``, the same with the
    re-run's steps (and their rule). Refuses a checkpoint of another run."""
    if ckpt_path is None or not (ckpt_path.exists() or ckpt_path.is_symlink()):
        return None, config
    state = load_checkpoint(ckpt_path)
    config = _as_rerun(state, config)  # an automatic re-run: its steps and start
    saved, now = _semantic(state["config"]), _semantic(config.to_dict())
    if state["problem"] != _fingerprint(problem):
        raise InvalidProblemError(f"{ckpt_path} belongs to a different problem; use another --out or --no-resume")
    if saved != now:
        diff = ", ".join(f"{k} {saved.get(k)!r} there, {now.get(k)!r} now"
                         for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k))
        hint = (" (a run saved before the whitened feature basis: --feature-basis given continues it)"
                if saved.get("whiten_features") is False and now.get("whiten_features") else "")
        if not saved.get("sign_change_start") and now.get("sign_change_start") is True:
            hint += " (a vector run saved with the plain start: --sign-change-start off continues it)"
        if saved.get("sign_change_start") is True and not now.get("sign_change_start"):
            hint += " (a vector run saved with the sign-change start: --sign-change-start on continues it)"
        raise InvalidProblemError(
            f"{ckpt_path} belongs to a different config ({diff}){hint}; use another --out or --no-resume"
        )
    planned = int(state["config"]["steps"])
    if config.steps < planned:
        raise InvalidProblemError(
            f"{ckpt_path} is a run of {planned} steps (at step {state['step']}); --steps {config.steps} is fewer: "
            f"use --steps {planned} or more, another --out, or --no-resume"
        )
    return state, config


def train(problem: Problem, config: TrainConfig, out_dir=None, *, resume: bool = True, model=None,
          stop_after: int | None = None, extra_config: dict | None = None, log=None) -> TrainResult:
    """Train one model; write the run folder when ``out_dir`` is given.

    Args:
        problem: the setting.
        config: the run's config.
        out_dir: run folder (None = nothing written, no checkpoints).
        resume: continue from ``out_dir/checkpoint.pt`` if present (same config except
            ``steps``, which may be larger: an extension).
        model: a ready model with ``predict(tokens) -> (B,)`` instead of :func:`build_model`
            (its initial parameters are then the caller's business).
        stop_after: stop (with a checkpoint) after this global step, as an interruption would.
        extra_config: additional JSON entries for ``config.json`` (e.g. the spec path).
        log: called with one-line progress messages ("resumed from step k of N", ...), or None.

    Returns:
        A :class:`TrainResult`; ``metrics`` is empty when stopped early, and carries the
        convergence ``status`` otherwise. A run that its ``auto_rerun`` re-ran (module docstring,
        "Automatic re-run") has trained more steps than ``config.steps``: ``metrics["steps"]``
        and ``metrics["auto_rerun"]`` say how many and why.

    Raises:
        TrainingDivergedError: the loss became non-finite.
        TrainingInterrupted: SIGINT or SIGTERM (after writing a checkpoint).
        InvalidProblemError: the checkpoint belongs to a different config or problem, or plans
            more steps than ``config.steps``.
        CheckpointError: the checkpoint is unreadable (an ``InvalidProblemError``).
    """
    config = config.resolved(problem)  # problem-derived defaults: step budget, gate bias (train_config)
    say = log or (lambda msg: None)
    if not str(config.device).startswith("cuda"):
        retain_freed_memory()  # freed tensors stay in the heap: no page faults per step (host_memory)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    # before the factory: the optimiser's schedule is made for the steps of an automatic re-run
    state, config = _saved_state(ckpt_path, config, problem) if resume else (None, config)
    sampler = PromptSampler(problem, config.prompt_format_for(problem), dtype=config.torch_dtype,
                            device=config.device)
    key_dim = default_key_dim(config, problem, sampler.token_dim)
    fresh = _fresh_factory(config, sampler.token_dim, key_dim, model)
    run = _new_run(config, fresh, state, own_model=model is None)
    resumed_from = extended_from = None
    if state is not None:
        resumed_from, extended_from = _continue_run(run, state, ckpt_path, config, out, say)
        if extended_from is None and run.step >= config.steps:
            saved = _saved_metrics(out, config)
            if saved is not None:
                say(f"already complete ({config.steps} steps, normalised risk {saved['normalized_risk']:.5f}, "
                    f"{saved['status']}); showing the saved result")
                return TrainResult(run.model, saved, run.history, resumed_from=run.step, already_complete=True)
            say(f"training already complete ({config.steps} steps); running the final evaluation")
    if out is not None:
        _write_config(out, config, problem, sampler, key_dim, run.segments, extra_config)
    fingerprint = _fingerprint(problem)
    save = (lambda: save_checkpoint(ckpt_path, run.state(config, fingerprint))) if ckpt_path is not None else (lambda: None)
    t0 = time.perf_counter()
    run_loop(run, problem, config, sampler, _last_step(config, stop_after), fresh, save, ckpt_path, out,
             saved_step=resumed_from)
    train_seconds = time.perf_counter() - t0
    save()
    if run.step < config.steps:
        return TrainResult(run.model, {}, run.history, resumed_from=resumed_from, extended_from=extended_from)
    metrics = _finished_metrics(run, problem, config, sampler, key_dim, ckpt_path, train_seconds)
    first = None
    plan = _auto_rerun(problem, config, metrics, run, own_model=model is None, say=say)
    if plan is not None:
        first = (run, metrics, config, key_dim)
        config, record = _rerun_plan(config, metrics, plan, train_seconds, say)
        record["first_heldout_risk"] = heldout_risk(run.model, sampler, first[2])
        if ckpt_path is not None:
            write_atomic(out / FIRST_RUN_FILE, ckpt_path.read_bytes())  # the first run, for _keep_better
        key_dim = default_key_dim(config, problem, sampler.token_dim)  # the plain start's is half as wide
        fresh = _fresh_factory(config, sampler.token_dim, key_dim, model)
        run = _new_run(config, fresh, None, own_model=True)
        run.auto_rerun = record
        if out is not None:
            _write_config(out, config, problem, sampler, key_dim, run.segments, extra_config)
        t0 = time.perf_counter()
        run_loop(run, problem, config, sampler, _last_step(config, stop_after), fresh, save, ckpt_path, out)
        train_seconds = time.perf_counter() - t0
        save()
        if run.step < config.steps:
            return TrainResult(run.model, {}, run.history, resumed_from=resumed_from, extended_from=extended_from)
        metrics = _finished_metrics(run, problem, config, sampler, key_dim, ckpt_path, train_seconds)
    if run.auto_rerun is not None and "kept" not in run.auto_rerun:
        run, metrics, config = _keep_better(
            run, metrics, config, first, _RunFiles(out, ckpt_path, fingerprint, sampler, extra_config),
            problem, say)
    if out is not None:
        write_json_atomic(out / "metrics.json", metrics)
    return TrainResult(run.model, metrics, run.history, resumed_from=resumed_from, extended_from=extended_from)


def _last_step(config: TrainConfig, stop_after: int | None) -> int:
    """The step this call trains to: the planned steps, or ``stop_after`` when it is earlier."""
    return config.steps if stop_after is None else min(config.steps, int(stop_after))


def _finished_metrics(run: RunState, problem: Problem, config: TrainConfig, sampler: PromptSampler, key_dim: int,
                      ckpt_path, train_seconds: float) -> dict:
    """The content of ``metrics.json`` of a run that has trained all its steps: the final
    evaluation, the run's record (attempts, restarts, label-trap repairs, an automatic re-run)
    and the convergence verdict."""
    metrics = _final_evaluation(run, problem, config, sampler, key_dim, ckpt_path)
    metrics.update(train_seconds=train_seconds, train_steps_timed=run.steps_here, attempts=run.attempt + 1,
                   steps=config.steps,
                   segments=run.segments, final_heldout=run.history[-1] if run.history else None,
                   restart_reasons=[h.get("reason", "plateau") for h in run.history if h.get("restart")],
                   label_split_start=bool(config.init_label_split or run.label_split),
                   recency_start=run.recency,
                   label_trap_repairs=[{**{k: h[k] for k in ("step", "attempt", "label_trap_share",
                                                             "heldout_risk")}, "early": bool(h.get("early"))}
                                       for h in run.history if h.get("repair")],
                   label_trap_share=label_trap_share(run.model, problem.d) if run.step >= TRAP_MIN_STEP else None,
                   label_trap_threshold=config.trap_threshold,
                   auto_rerun=run.auto_rerun)
    metrics.update(convergence_status(metrics))
    return metrics


def _rerun_plan(config: TrainConfig, metrics: dict, plan: dict, seconds: float, say) -> tuple[TrainConfig, dict]:
    """The config of the automatic re-run ``plan`` (``_auto_rerun``) of the finished run of
    ``config`` that ended with ``metrics`` after ``seconds`` of training, and the record it carries
    (checkpoint and ``metrics.json``: ``"auto_rerun"``); ``say`` tells the user."""
    first, to, changes = config.steps, plan["to"], plan["changes"]
    record = {"from": first, "to": to, "factor": config.auto_rerun, "start": plan["start"], "changes": changes,
              "first_changes": {k: getattr(config, k) for k in changes}, "first_train_seconds": seconds,
              "first_steps_timed": metrics.get("train_steps_timed"),
              "first_evaluation": {**{k: metrics.get(k) for k in ("normalized_risk", "normalized_ci", "gap", "gap_ci",
                                                                  "status", "reason", "gain_recovered")},
                                   "one_signed_gap_ci": metrics["references"][0].get("one_signed_gap_ci")}}
    weak = record["weak_signal_gain"] = plan.get("weak_signal_gain")
    nothing = record["learned_nothing"] = metrics.get("status") != "not_converged"
    if weak is not None:
        where = (f"{metrics['gap']:+.2%} from the {metrics['target']}, which is only {weak:.1%} below predicting zero "
                 f"(under {WEAK_SIGNAL_GAIN:.0%}), where a batch's gradient is mostly noise")
        if nothing:
            where += (f"; inside its tolerance, but predicting zero is inside its 95% interval and "
                      f"{1 / (1 - weak) - 1:+.2%} from the optimum, outside it: it learned "
                      f"{metrics['gain_recovered']:.0%} of the gain")
    elif plan["start"] == "plain":
        where = (f"{metrics['gap']:+.2%} from the {metrics['target']}, above even the best one-signed weights' risk, "
                 "with the sign-change start")
    else:
        where = (f"{metrics['gap']:+.2%} from the {metrics['target']}, at or below the best one-signed weights' risk: "
                 "one of the two channel groups lost or not yet formed")
    how = rerun_how({**plan, "from": first})
    rule = f"{config.steps_rule}; re-run automatically {how}: the {first}-step run ended {where}"
    how += f" (×{config.auto_rerun}, once" if plan["start"] == "same" else " (once"
    how += "; --auto-rerun 1 turns this off)"
    state = "as if it learned nothing" if nothing else "outside its tolerance"
    say(f"the run ended at step {first} {state} ({where}); running it again {how}; the better of the "
        "two runs on the periodic held-out set is kept")
    return replace(config, steps=to, steps_rule=rule, **changes), record


def _auto_rerun(problem: Problem, config: TrainConfig, metrics: dict, run: RunState, *, own_model: bool,
                say) -> dict | None:
    """The plan of the automatic re-run of a finished run (``TrainConfig.auto_rerun``), or None:
    ``{"to": steps, "start": "same" | "plain", "changes": {config field: value}, "weak_signal_gain":
    gain or None}``.

    Once per run, for a run that owns its model and ended outside its tolerance (or, with a weak
    signal, inside it only by chance):

    * a vector run with the sign-change start, **at or below** the best one-signed weights' risk of
      an optimum whose weights change sign, not in the label trap: a run there has not yet formed
      (or has lost) one of its two channel groups, and on the measured case a fresh run with three
      times the steps formed it where continuing the finished run did not: the same start with
      ``auto_rerun`` times the steps (``train_config.AUTO_RERUN_FACTOR``);
    * a vector run with the sign-change start, **above** it, not in the label trap: on the measured
      weak-signal pattern the sign-change start fell back into the rank-one label trap again and
      again and learned little, where the plain start landed: the plain start with the same steps
      (``train_config.PLAIN_START_RERUN``);
    * any model where its class optimum is less than ``train_config.WEAK_SIGNAL_GAIN`` below
      predicting zero (a weak signal): ``WEAK_SIGNAL_BATCH_FACTOR`` times the batch (a vector run
      with the sign-change start also gets the plain start), with the steps
      ``train_config.weak_rerun_steps`` derives for it: there a batch's gradient is mostly noise.
      Such a run is re-run also when counted converged only by chance (:func:`learned_nothing`),
      and also in the label trap, into which the measured weak runs drifted while they learned
      nothing.

    A miss with another cause is left to the WARNING, and so is a re-run that the time and memory
    guard (``step_timing.require_run``) refuses: ``say`` then tells why."""
    factor = config.auto_rerun
    if not isinstance(factor, int) or factor <= 1 or run.auto_rerun is not None or not own_model:
        return None
    refs = metrics.get("references") or []
    if not refs:
        return None
    weak = weak_gain(refs[0].get("normalized_risk"))
    vector, trapped = MODEL_KINDS[config.model].gating == "vector", in_label_trap(metrics)
    if (trapped or not vector) and weak is None:
        return None
    where, start = one_signed_position(refs[0]), vector and config.sign_change_start is True
    missed = metrics.get("status") == "not_converged"
    if not missed and not (weak is not None and learned_nothing(metrics)):
        return None
    if start and where in ("at", "below") and missed and not trapped:
        plan = {"to": factor * config.steps, "start": "same", "changes": {}, "weak_signal_gain": None}
    elif (start and where == "above") or weak is not None:  # (in the label trap only with a weak signal)
        changes: dict = {}
        if start:
            changes["sign_change_start"] = False
            if config.init_gate_bias == replace(config, init_gate_bias="auto").resolved(problem).init_gate_bias:
                # the start's derived bias (gates nearly open) becomes the plain start's; a caller's is kept
                changes["init_gate_bias"] = replace(config, sign_change_start=False,
                                                    init_gate_bias="auto").resolved(problem).init_gate_bias
        to = config.steps
        if weak is not None:
            changes["batch_size"] = WEAK_SIGNAL_BATCH_FACTOR * config.batch_size
            to = weak_rerun_steps(config, problem)
        plan = {"to": to, "start": "plain", "changes": changes, "weak_signal_gain": weak}
    else:
        return None
    how = rerun_how({**plan, "from": config.steps})
    try:
        require_run(problem, replace(config, steps=plan["to"], **plan["changes"]),
                    log=lambda msg: say(f"the re-run {how}: {msg}"))
    except ResourceLimitError as exc:
        say(f"no automatic re-run {how}: {exc}")
        return None
    return plan


def learned_nothing(metrics: dict) -> bool:
    """Whether a run counted "converged" only by chance: predicting zero (risk 1) lies in its 95%
    interval (``indistinguishable_from_zero``) although predicting zero itself would be outside the
    tolerance (the optimum more than the tolerance below it). On the weak-signal pattern with a gain
    of 3.3% a run that recovered 12% of the gain ended +2.99%, inside the 3% tolerance by noise."""
    refs = metrics.get("references") or []
    optimum, tol = (refs[0].get("normalized_risk") if refs else None), metrics.get("tolerance")
    return bool(metrics.get("status") == "converged" and metrics.get("indistinguishable_from_zero")
                and optimum is not None and tol is not None and 0 < optimum and 1.0 / optimum - 1.0 > tol)


def rerun_how(rec: dict) -> str:
    """How the automatic re-run of the record (or plan with its ``"from"``) ``rec``
    (``_auto_rerun``) was made, in words: "from the same start with N steps", "with the plain
    start and the same N steps", "with a batch of 1024 prompts and the same N steps" (or "and
    the M steps derived for that batch" where they differ from the first run's), or both changes."""
    if rec.get("start") != "plain":
        return f"from the same start with {rec['to']} steps"
    changes = rec.get("changes") or {}
    parts = (["the plain start"] if changes.get("sign_change_start") is False else []) + (
        [f"a batch of {changes['batch_size']} prompts"] if "batch_size" in changes else [])
    steps = (f"the same {rec['to']} steps" if rec.get("from") in (None, rec["to"])
             else f"the {rec['to']} steps derived for that batch")
    return f"with {' and '.join(parts)} and {steps}"


def heldout_risk(model, sampler: PromptSampler, config: TrainConfig) -> float:
    """The normalised risk of ``model`` on the periodic held-out set (``config.eval_prompts``
    prompts drawn with ``config.eval_seed``: the set of the training curve, independent of the
    final set), as the curve reads it."""
    heldout = HeldOutSet(sampler, config.eval_prompts, config.eval_seed, batch_size=config.eval_batch, cache=False)
    model.eval()
    est, _ = evaluate(model, heldout, resamples=200, seed=config.eval_seed)
    return est.normalized


@dataclass(frozen=True)
class _RunFiles:
    """What writing a run folder needs besides the run (``_keep_better``)."""

    out: Path | None
    ckpt_path: Path | None
    fingerprint: dict
    sampler: PromptSampler
    extra_config: dict | None


def _keep_better(run: RunState, metrics: dict, config: TrainConfig, first, files: _RunFiles, problem: Problem,
                 say) -> tuple[RunState, dict, TrainConfig]:
    """The better of a finished automatic re-run (``run``, ``metrics``, ``config``) and the run it
    re-ran, by their normalised risk on the periodic held-out set (the same prompts for both, and
    none of the final set's, so the reported final risk carries no selection bias); the re-run on
    a tie. ``first`` is the first run as ``(run, metrics, config)`` when this call trained it, else
    None: it is then read from ``FIRST_RUN_FILE``, and when that is missing the re-run is kept.

    The choice is recorded in the run's ``auto_rerun`` record (``kept``: "re-run" | "first", the
    two held-out risks, the re-run's final evaluation). When the first run is kept, the run folder
    is rewritten as the first run's, in an order that an interruption cannot break (each file
    atomic; the next call either makes the same choice again or reads the finished first run): the
    re-run's checkpoint is copied to ``RERUN_FILE``, then ``checkpoint.pt`` (the first run, now
    with the record, so it is never re-run again), ``config.json`` and ``history.json`` are the
    first run's; ``metrics.json`` follows in :func:`train`."""
    rec = run.auto_rerun
    rec["rerun_heldout_risk"] = heldout_risk(run.model, files.sampler, config)
    rec["rerun_evaluation"] = {k: metrics.get(k) for k in ("normalized_risk", "normalized_ci", "gap", "gap_ci",
                                                           "status")}
    before = rec.get("first_heldout_risk")
    path = files.out / FIRST_RUN_FILE if files.out is not None else None
    if first is None and (path is None or not path.is_file()):
        before = None  # an interrupted re-run whose first run is gone (or was saved before it was kept)
        say(f"the first {rec['from']}-step run is not in {path}: keeping the re-run")
    if before is None or rec["rerun_heldout_risk"] <= before:
        rec["kept"] = "re-run"
        if files.ckpt_path is not None:
            save_checkpoint(files.ckpt_path, run.state(config, files.fingerprint))
        return run, {**metrics, "auto_rerun": rec}, config
    rec["kept"] = "first"
    if first is not None:
        frun, fmetrics, fconfig, fkey = first
    else:
        state = load_checkpoint(path)
        fconfig = replace(config, steps=int(rec["from"]), steps_rule=state["config"].get("steps_rule"),
                          **rec.get("first_changes", {}))
        fkey = default_key_dim(fconfig, problem, files.sampler.token_dim)
        frun = _new_run(fconfig, _fresh_factory(fconfig, files.sampler.token_dim, fkey), state, own_model=True)
        _continue_run(frun, state, path, fconfig, None, lambda msg: None)
        frun.steps_here = int(rec.get("first_steps_timed") or 0)
        fmetrics = _finished_metrics(frun, problem, fconfig, files.sampler, fkey, files.ckpt_path,
                                     float(rec["first_train_seconds"]))
    frun.auto_rerun = rec
    fconfig = replace(fconfig, steps_rule=(
        f"{fconfig.steps_rule}; re-run automatically ({rerun_how(rec)}), which ended worse on the "
        f"periodic held-out set ({rec['rerun_heldout_risk']:.5f} against {before:.5f}): the {rec['from']}-step run "
        "is kept"))
    say(f"the {rec['to']}-step re-run ended worse than the {rec['from']}-step run on the periodic held-out set "
        f"({rec['rerun_heldout_risk']:.5f} against {before:.5f}): keeping the first run"
        + (f" (the re-run's checkpoint: {files.out / RERUN_FILE})" if files.out is not None else ""))
    if files.out is not None:
        write_atomic(files.out / RERUN_FILE, files.ckpt_path.read_bytes())
        save_checkpoint(files.ckpt_path, frun.state(fconfig, files.fingerprint))
        _write_config(files.out, fconfig, problem, files.sampler, fkey, frun.segments, files.extra_config)
        write_json_atomic(files.out / "history.json", frun.history)
    return frun, {**fmetrics, "auto_rerun": rec}, fconfig


def _fresh_factory(config: TrainConfig, token_dim: int, key_dim: int, given=None):
    """``(attempt, label_split=False, recency=False) -> (model, params, optimiser, scheduler)``: a
    new initialisation (seed ``seed + 1000·attempt``; the label-split start when ``label_split``,
    after the probe found the label trap; the recency start, every gate bias ``log``
    ``RECENCY_DECAY_FACTOR`` lower, when ``recency``, after it found a scalar-gated run at the
    linear-attention level) and its optimiser, or the caller's ``given`` model."""

    def fresh(attempt: int, label_split: bool = False, recency: bool = False):
        cfg = replace(config, seed=config.seed + _RESTART_SEED_STRIDE * attempt,
                      init_label_split=config.init_label_split or label_split)
        if recency and config.init_gate_bias is not None:
            cfg = replace(cfg, init_gate_bias=config.init_gate_bias - math.log(RECENCY_DECAY_FACTOR))
        elif recency and MODEL_KINDS[config.model].gating != "none":
            cfg = replace(cfg, init_gate_bias=DEFAULT_GATE_BIAS - math.log(RECENCY_DECAY_FACTOR))
        m = given if given is not None else build_model(cfg, token_dim, key_dim)
        return (m, *make_optimiser(config, m))

    fresh.recency_start = given is None  # run_loop restarts from the linear level only with this start
    return fresh


def _new_run(config: TrainConfig, fresh, state: dict | None, own_model: bool) -> RunState:
    """The run state at step 0 of the attempt recorded in ``state`` (0 for a fresh run), with the
    probe armed when the run owns its model and restarts are allowed or the label-trap test is on."""
    attempt = int(state["attempt"]) if state is not None else 0
    run = RunState(*fresh(attempt), gen=make_generator(config.data_seed, config.device), attempt=attempt)
    armed = own_model and (config.restarts or config.trap_threshold is not None)
    run.probe = int(round(config.restart_at * config.steps)) if armed else 0
    run.segments = [config.steps]
    return run


def _continue_run(run: RunState, state: dict, ckpt_path, config: TrainConfig, out, say) -> tuple[int, int | None]:
    """Load a validated checkpoint into ``run``; for a larger ``config.steps`` set up the extension
    (the lr of the longer schedule from here, the shorter run's metrics removed).

    Returns:
        (the step resumed from, the planned steps extended from or None).
    """
    restore(ckpt_path, state, run.model, run.opt, run.sched, run.gen)
    run.step, run.history, run.ema = int(state["step"]), list(state["history"]), state["ema"]
    run.label_split = bool(state.get("label_split", False))
    run.recency = bool(state.get("recency", False))
    run.auto_rerun = state.get("auto_rerun")
    planned = int(state["config"]["steps"])
    run.probe = int(state.get("probe", run.probe if config.steps == planned else 0))
    run.segments = [int(s) for s in state.get("segments", [planned])]
    if config.steps <= planned:
        if run.step < config.steps:
            how = (f" (the automatic re-run with {config.steps} steps)" if run.auto_rerun else "")
            say(f"resumed from step {run.step} of {config.steps}{how}")
        return run.step, None
    run.segments.append(config.steps)
    factor = lr_factor(config)
    for g, base in zip(run.opt.param_groups, run.sched.base_lrs):
        g["lr"] = base * factor(run.step)
    run.sched._last_lr = [g["lr"] for g in run.opt.param_groups]
    if out is not None and (out / "metrics.json").exists():
        (out / "metrics.json").unlink()  # the result of the shorter run is superseded
    say(f"extending the run from {planned} to {config.steps} steps (at step {run.step}; the lr follows "
        f"the {config.steps}-step schedule from here)")
    return run.step, planned


def _write_config(out: Path, config: TrainConfig, problem: Problem, sampler: PromptSampler, key_dim: int,
                  segments: list, extra: dict | None) -> None:
    """``config.json``: the resolved config, the problem fingerprint and the token layout."""

    write_json_atomic(out / "config.json", {
        "config": config.to_dict(), "problem": _fingerprint(problem), "prompts": sampler.describe(),
        "key_dim": key_dim, "segments": segments, **(extra or {}),
    })


def _final_evaluation(run: RunState, problem: Problem, config: TrainConfig, sampler: PromptSampler, key_dim: int,
                      ckpt_path) -> dict:
    """:func:`final_metrics` with SIGINT/SIGTERM turned into :class:`TrainingInterrupted`
    (the checkpoint of the finished training is already written)."""
    flags: list = []
    old = interrupt_handlers(True, flags)
    try:
        return final_metrics(run.model, problem, config, sampler, key_dim)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run.step, config.steps, flags[-1] if flags else signal.SIGINT,
                                  ckpt_path, phase="final evaluation") from None
    finally:
        restore_handlers(old)


def _saved_metrics(out, config: TrainConfig) -> dict | None:
    """metrics.json of the finished run in ``out`` (status recomputed), or None if absent/stale/damaged."""
    import json

    try:
        metrics = json.loads((out / "metrics.json").read_text())
        if not (isinstance(metrics, dict) and metrics.get("model") == config.model
                and metrics.get("steps", config.steps) == config.steps):
            return None
        metrics.update(convergence_status(metrics))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    return metrics


def final_metrics(model, problem: Problem, config: TrainConfig, sampler: PromptSampler, key_dim: int) -> dict:
    """Final held-out evaluation on ``config.final_prompts`` fresh prompts, against theory.

    Returns:
        dict with ``plain`` and ``control_variate`` estimates, the ``headline`` one, the theory
        ``references`` and the relative ``gap`` of the headline risk to each, and the
        linear-attention optimum (raw) that every gated model can reach.
    """
    refs, notes = theory_references(problem, config.model, key_dim)
    control = None
    if config.control_variate:
        ref = next((r for r in refs if r.omega is not None and r.P is not None), None)
        if ref is None:
            control = make_control(problem)
        else:
            control = make_control(problem, ref.omega, ref.P, f"{ref.cls} class optimum")
    heldout = HeldOutSet(sampler, config.final_prompts, config.final_seed, batch_size=config.eval_batch, cache=False)
    model.eval()
    plain, cv = evaluate(model, heldout, control, seed=config.final_seed,
                         progress="final evaluation" if config.progress else False)
    head = cv if cv is not None else plain
    return {
        "model": config.model,
        "layers": config.layers,
        "n": problem.n,
        "d": problem.d,
        "key_dim": key_dim,
        "risk": head.mean,
        "normalized_risk": head.normalized,
        "ci": [head.ci_low, head.ci_high],
        "normalized_ci": [head.ci_low / head.null_risk, head.ci_high / head.null_risk],
        "rel_ci_halfwidth": head.rel_halfwidth,
        "estimator": head.method,
        "plain": plain.to_dict(),
        "control_variate": None if cv is None else cv.to_dict(),
        "control": None if control is None else {"label": control.label, "risk": control.risk},
        "references": [_reference_entry(problem, r, head) for r in refs],
        "reference_notes": notes,
        "linear_optimum": make_control(problem).risk,
        "null_risk": problem.null_risk,
    }


def _reference_entry(problem: Problem, ref, head) -> dict:
    """A reference of ``metrics.json``: the class optimum, the trained risk's gap to it, whether
    its weights change sign, and for a vector optimum that changes sign the best one-signed
    weights' risk (``references.one_signed_risk``) with the trained risk's gap and 95% interval
    to it (what a run that lost one of the two channel groups can still reach)."""
    out = {**ref.to_dict(), "gap": (head.mean - ref.risk) / ref.risk, "weights_change_sign": weights_change_sign(ref.omega)}
    if ref.cls == "vector" and out["weights_change_sign"]:
        try:
            r1 = one_signed_risk(problem)
        except WPGDError:
            r1 = None
        if r1 is not None and r1 > 0:
            out["one_signed_risk"] = r1
            out["one_signed_normalized_risk"] = r1 / problem.null_risk
            out["one_signed_gap"] = (head.mean - r1) / r1
            out["one_signed_gap_ci"] = [head.ci_low / r1 - 1.0, head.ci_high / r1 - 1.0]
    return out


def _fingerprint(problem: Problem) -> dict:
    """The problem's description plus SHA-256 digests of Σ and R̄ (JSON round-tripped), so a
    checkpoint is never resumed on a different problem."""
    import hashlib
    import json

    import numpy as np


    desc = dict(problem.describe())
    desc["sigma_sha256"] = hashlib.sha256(np.ascontiguousarray(problem.sigma).tobytes()).hexdigest()
    if problem.task_matrix is not None:
        desc["task_matrix_sha256"] = hashlib.sha256(np.ascontiguousarray(problem.task_matrix).tobytes()).hexdigest()
    return json.loads(json.dumps(to_jsonable(desc)))
