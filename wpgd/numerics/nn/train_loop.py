"""The optimisation loop of one training run: run state, optimiser and schedule, the training step,
periodic evaluation and plateau restarts, and SIGINT/SIGTERM handling.

Used by :func:`wpgd.numerics.nn.training.train` (which owns resuming, the run folder and the final
evaluation) and by ``benchmarks/bench_train.py`` (which times :func:`forward_backward` +
:func:`update`, the exact step of a run).
"""

from __future__ import annotations

import math
import signal
import threading
from dataclasses import dataclass, field

import torch

from wpgd.numerics.core.errors import SolverError
from wpgd.numerics.core.fileio import progress_bar, write_json_atomic
from wpgd.numerics.nn.adamw import make_adamw
from wpgd.numerics.nn.evaluation import HeldOutSet, evaluate, make_control
from wpgd.numerics.nn.label_trap import (
    EARLY_TRAP_READINGS,
    TRAP_MIN_STEP,
    label_trap_share,
    leave_label_trap_,
)
from wpgd.numerics.nn.prompts import PromptSampler, make_generator
from wpgd.numerics.nn.train_config import TrainConfig

LINEAR_LEVEL_SHARE = 0.25
"""The probe's *linear level* test (:func:`probe_verdict`) restarts a scalar-gated run from the
recency start (``train_config.RECENCY_DECAY_FACTOR``) when even the lower end of its held-out
interval (control-variate estimate) has gone less than this share of the way from the
linear-attention optimum down to the scalar class optimum, and staying at the linear level would
miss the tolerance. Calibrated on the 41 scalar runs on record (docs/training.md, "Stuck at linear
attention"; ``benchmarks/linear_level_calibration.py``): at the evaluation nearest the probe the
runs that land had gone 0.40 or more of the way (plain point estimates), but for one with a
3.9% gain whose plain estimate was still above the linear level and which is not restarted under
the control-variate reading; the stuck run read 0.10."""

LINEAR_LEVEL_MIN_STEP = 400
"""The linear-level test is made only at a probe from this step on: the calibration's readings were
taken at step 400, and a run probed earlier (a short ``--steps``) has had no time to move its gates.
Every derived step budget is ≥ 1500 steps, so its probe (step ≥ 450) makes the test."""

__all__ = ["LINEAR_LEVEL_MIN_STEP", "LINEAR_LEVEL_SHARE", "TrainingDivergedError", "TrainingInterrupted",
           "RunState", "make_optimiser", "forward_backward", "update", "probe_verdict", "early_label_trap", "run_loop", "lr_factor", "interrupt_handlers",
           "restore_handlers"]


class TrainingDivergedError(SolverError):
    """The training loss became NaN/Inf."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM (a ``KeyboardInterrupt``, so Ctrl-C handling still works).

    Attributes:
        step: the step saved in the checkpoint (None when nothing could be saved).
        steps: the run's planned steps.
        signum: ``signal.SIGINT`` or ``signal.SIGTERM``.
        checkpoint: path of the checkpoint written, or None (no run folder).
        phase: "training" or "final evaluation".
    """

    def __init__(self, step, steps, signum, checkpoint, phase="training"):
        super().__init__(f"interrupted at step {step} of {steps}")
        self.step, self.steps, self.signum, self.checkpoint, self.phase = step, steps, signum, checkpoint, phase


def lr_factor(config: TrainConfig):
    """The schedule ``step -> lr / peak lr``: linear warm-up over ``warmup·steps``, then cosine to
    ``min_lr_frac`` at ``steps`` (or constant)."""
    warm = int(round(config.warmup * config.steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "constant":
            return 1.0
        t = (step - warm) / max(1, config.steps - warm)
        return config.min_lr_frac + (1 - config.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


@dataclass
class RunState:
    """The mutable state of one run (what a checkpoint holds)."""

    model: torch.nn.Module
    params: list
    opt: torch.optim.Optimizer
    sched: object
    gen: torch.Generator
    step: int = 0
    history: list = field(default_factory=list)
    ema: float | None = None
    attempt: int = 0
    probe: int = 0
    segments: list = field(default_factory=list)
    label_split: bool = False
    recency: bool = False
    auto_rerun: dict | None = None  # the automatic longer re-run this run is (training._auto_rerun)
    steps_here: int = 0  # optimiser steps taken in this process (not saved: a resumed run counts anew)

    def state(self, config: TrainConfig, fingerprint: dict) -> dict:
        return {
            "config": config.to_dict(), "problem": fingerprint, "step": self.step,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "generator": self.gen.get_state(), "history": self.history, "ema": self.ema, "attempt": self.attempt,
            "probe": self.probe, "segments": self.segments, "label_split": self.label_split,
            "recency": self.recency, "auto_rerun": self.auto_rerun,
        }


def make_optimiser(config: TrainConfig, model):
    """AdamW (the gate parameters that the model lists in ``gate_parameters()`` at
    ``lr·gate_lr_mult``) and its warm-up + cosine/constant schedule; returns (params, optimiser,
    scheduler)."""
    ps = [p for p in model.parameters() if p.requires_grad]
    owned = {id(p) for p in (model.gate_parameters() if hasattr(model, "gate_parameters") else [])}
    gate = [p for p in ps if id(p) in owned]
    rest = [p for p in ps if id(p) not in owned]
    groups = [{"params": rest}] + ([{"params": gate, "lr": config.lr * config.gate_lr_mult}] if gate else [])
    opt = make_adamw(groups, lr=config.lr, weight_decay=config.weight_decay)
    return ps, opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(config))


def interrupt_handlers(raise_now: bool, flags: list):
    """Install SIGINT/SIGTERM handlers (main thread only); returns the old ones to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame):
        flags.append(signum)
        if raise_now:
            raise KeyboardInterrupt

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, handler)
    return old


def restore_handlers(old: dict) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)


def forward_backward(run: RunState, config: TrainConfig, sampler: PromptSampler, pool, nr: float):
    """One step's fresh batch (or pool draw), loss, gradients and clipping; returns (loss, grad norm).

    Raises:
        TrainingDivergedError: the loss is not finite (nothing has been updated yet).
    """
    run.model.train()
    if pool is None:
        batch = sampler.sample(config.batch_size, run.gen)
        tokens, target = batch.tokens, batch.target
    else:
        idx = torch.randint(config.train_pool, (config.batch_size,), generator=run.gen, device=config.device)
        tokens, target = pool.tokens[idx], pool.target[idx]
    if config.amp == "bf16":
        with torch.autocast(device_type=str(config.device).split(":")[0], dtype=torch.bfloat16):
            pred = sampler.predict(run.model, tokens)
        pred = pred.to(target.dtype)
    else:
        pred = sampler.predict(run.model, tokens)
    loss = ((pred - target) ** 2).mean() / nr
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(run.params, config.clip) if config.clip > 0 else None
    lval = float(loss.detach())
    if not math.isfinite(lval):
        raise TrainingDivergedError(f"training loss became {lval} at step {run.step}; lower --lr or use --dtype float64")
    return lval, gnorm


def update(run: RunState) -> None:
    """The optimiser and schedule step that ends a training step."""
    run.opt.step()
    run.sched.step()


def probe_verdict(run: RunState, problem, config: TrainConfig, heldout: HeldOutSet) -> tuple[str | None, dict]:
    """The probe's tests of a run at ``restart_at·steps``; returns ("label trap", "plateau",
    "linear level" or None, the figures of the probe for the history).

    * **label trap** (``trap_threshold``): the weights carry the x·y pathway mostly through the
      rank-one factorisation (:func:`~wpgd.numerics.nn.label_trap.label_trap_share`). Read off the
      weights, so it sees traps whose cost no risk threshold can tell from slow training. Made
      only from step ``TRAP_MIN_STEP`` (400) on: earlier the share reads the initialisation.
    * **plateau** (``restart_threshold``): the whole held-out 95% interval is more than the
      threshold of the way from the linear-attention optimum up to 1 (predicting zero). The
      interval, not the point estimate: where the linear optimum is close to 1 the threshold is
      smaller than the held-out noise (docs/training.md, "Edges").
    * **linear level** (scalar-gated runs whose class is the scalar WPGD class, with the plateau test
      on): the scalar class optimum is more than the tolerance below the linear-attention optimum,
      and the lower end of the held-out interval is still less than :data:`LINEAR_LEVEL_SHARE` of
      the way from the linear optimum down to it: the gates have not moved off linear attention
      (docs/training.md, "Stuck at linear attention").
    """
    nr = problem.null_risk
    run.model.eval()
    est, _ = evaluate(run.model, heldout, resamples=200, seed=config.eval_seed)
    tested = config.trap_threshold is not None and run.step >= TRAP_MIN_STEP
    share = label_trap_share(run.model, problem.d) if tested else None
    record = {"heldout_risk": est.normalized, "label_trap_share": share}
    if share is not None and share > config.trap_threshold:
        return "label trap", record
    if config.restart_threshold is not None:
        control = make_control(problem)  # the linear-attention optimum (also the linear-level test's control)
        lin = control.risk / nr
        if (est.ci_low / nr - lin) > config.restart_threshold * max(1.0 - lin, 0.0):
            return "plateau", record
        if _at_linear_level(run, problem, config, heldout, control, lin, record):
            return "linear level", record
    return None, record


def _at_linear_level(run: RunState, problem, config: TrainConfig, heldout: HeldOutSet, control, lin: float,
                     record: dict) -> bool:
    """The linear-level test of :func:`probe_verdict` (``control``: the linear-attention optimum's
    control variate; ``lin``: its normalised risk).

    The held-out risk is re-estimated with the linear-attention optimum as the control variate: a
    run at the linear level predicts almost what that optimum predicts, so the interval is tight
    exactly where the test must be sure (the plain 4096-prompt interval was ±4.7% at d = 12, wider
    than the distance to be measured)."""
    from wpgd.numerics.core.convergence import tolerance_for
    from wpgd.numerics.core.references import class_risk
    from wpgd.numerics.core.vocabulary import MODEL_KINDS

    if (MODEL_KINDS[config.model].classes[0] != "scalar" or (problem.num_segments or 1) < 2
            or run.step < LINEAR_LEVEL_MIN_STEP):
        return False
    target = class_risk(problem, "scalar").normalized
    gain = lin - target
    if gain <= tolerance_for(config.model) * target:  # staying at the linear level would land
        return False
    _, cv = evaluate(run.model, heldout, control, resamples=200, seed=config.eval_seed)
    low = cv.ci_low / problem.null_risk
    record["linear_level_share"] = (lin - low) / gain  # the optimistic share of the way gone
    return low > lin - LINEAR_LEVEL_SHARE * gain


def early_label_trap(run: RunState, config: TrainConfig) -> dict | None:
    """The early label-trap test of a run whose trapped runs are rewritten (``trap_action``
    "rewrite"), made at each periodic evaluation before the probe; returns the evaluation's
    record when the run is to be rewritten now, else None.

    A rewrite keeps what the run has learned (no restart, no extra steps), so unlike a restart it
    need not wait for the probe at ``restart_at·steps``, and it should not: a vector run's probe
    is thousands of steps in, and every step spent in the trap is one fewer for the slow escape
    after the rewrite (docs/training.md, "The early trap test"). The test fires when the last
    ``EARLY_TRAP_READINGS`` (2) periodic evaluations of this attempt, all at step ``TRAP_MIN_STEP``
    (400) or later and after any earlier rewrite of the attempt, read a share above
    ``trap_threshold``: two readings, because a run that lands read up to 0.34 at step 400 alone.
    A run back in the trap after a rewrite is rewritten again after two more such readings; the
    probe still makes its tests as before. Read from ``run.history`` only, so a resumed run
    decides exactly as an uninterrupted one.
    """
    if config.trap_action != "rewrite" or config.trap_threshold is None or not run.probe:
        return None
    if not TRAP_MIN_STEP <= run.step < run.probe:
        return None
    readings = []
    for h in reversed(run.history):
        if h.get("attempt") != run.attempt or h.get("repair"):
            break
        if "train_risk_ema" in h and h["step"] >= TRAP_MIN_STEP:
            readings.append(h)
            if len(readings) == EARLY_TRAP_READINGS:
                break
    if len(readings) < EARLY_TRAP_READINGS or readings[0]["step"] != run.step:
        return None
    shares = [h.get("label_trap_share") for h in readings]
    if any(s is None or s <= config.trap_threshold for s in shares):
        return None
    return {"heldout_risk": readings[0]["heldout_risk"], "label_trap_share": shares[0], "early": True}


def rewrite_trap(run: RunState, problem, reason: str, record: dict) -> None:
    """Rewrite the trap's x·y products into the construction's factorisation and train on
    (:func:`~wpgd.numerics.nn.label_trap.leave_label_trap_`; the optimiser state is kept), with a
    ``repair`` record in the history."""
    leave_label_trap_(run.model, problem.d)
    run.history.append({"step": run.step, "attempt": run.attempt, "repair": True, "reason": reason,
                        **record, "label_trap_share_after": label_trap_share(run.model, problem.d)})


def run_loop(run: RunState, problem, config, sampler, last, fresh, save, ckpt_path, out, saved_step=None) -> None:
    """The optimisation loop from ``run.step`` to ``last``, with periodic evaluation, plateau restarts,
    checkpoints and signal handling (SIGINT/SIGTERM → checkpoint, then :class:`TrainingInterrupted`)."""

    pool = None
    if config.train_pool:
        pool = sampler.sample(config.train_pool, make_generator(config.data_seed + 7919, config.device))
    heldout = HeldOutSet(sampler, config.eval_prompts, config.eval_seed, batch_size=config.eval_batch)
    nr = problem.null_risk
    bar = progress_bar(config.steps, f"train {config.model} L={config.layers}", enabled=config.progress, unit="step")
    bar.update(run.step)
    # A signal in the main thread only sets a flag, and the loop stops at the next step boundary
    # with a checkpoint. A KeyboardInterrupt raised elsewhere mid-step is handled by rewinding the
    # data generator if the update had not started, else by keeping the last checkpoint (which
    # is exact too, only older).
    flags: list = []
    old = interrupt_handlers(False, flags)
    consistent = True
    gen_state = run.gen.get_state()
    try:
        while run.step < last:
            if flags:
                raise KeyboardInterrupt
            lval, gnorm = forward_backward(run, config, sampler, pool, nr)
            consistent = False
            update(run)
            run.step += 1
            run.steps_here += 1
            run.ema = lval if run.ema is None else 0.98 * run.ema + 0.02 * lval
            if run.step % config.eval_every == 0 or run.step == config.steps:
                run.model.eval()
                est, _ = evaluate(run.model, heldout, resamples=200, seed=config.eval_seed)
                run.history.append({
                    "step": run.step, "attempt": run.attempt, "train_risk_ema": run.ema,
                    "heldout_risk": est.normalized, "heldout_ci": [est.ci_low / nr, est.ci_high / nr],
                    "lr": run.sched.get_last_lr()[0], "grad_norm": None if gnorm is None else float(gnorm),
                    "label_trap_share": label_trap_share(run.model, problem.d),
                })
                early = early_label_trap(run, config)
                if early is not None:
                    rewrite_trap(run, problem, "label trap", early)
                if out is not None:
                    write_json_atomic(out / "history.json", run.history)
            if run.step == run.probe:
                reason, record = probe_verdict(run, problem, config, heldout)
                if reason == "linear level" and not getattr(fresh, "recency_start", False):
                    reason = None  # a caller's factory without the recency start (the atlas's architectures)
                can_restart = run.attempt < config.restarts
                if reason == "label trap" and (config.trap_action == "rewrite" or not can_restart):
                    rewrite_trap(run, problem, reason, record)
                elif reason is not None and can_restart:
                    # On the plateau near risk 1, in the trap with trap_action "restart", or at the
                    # linear level: start again from a fresh initialisation (after the trap, and from
                    # then on, from the label-split start; after the linear level from the recency start).
                    run.history.append({"step": run.step, "attempt": run.attempt, "restart": True,
                                        "reason": reason, **record})
                    run.attempt += 1
                    run.label_split = run.label_split or reason == "label trap"
                    run.recency = run.recency or reason == "linear level"
                    starts = {k: True for k, on in (("label_split", run.label_split), ("recency", run.recency)) if on}
                    run.model, run.params, run.opt, run.sched = fresh(run.attempt, **starts)
                    run.step, run.ema = 0, None
                    bar.reset()
            gen_state = run.gen.get_state()
            consistent = True
            bar.update(1)
            if run.ema is not None:
                bar.set_postfix(risk=f"{run.ema:.4f}", refresh=False)
            if config.checkpoint_every and run.step % config.checkpoint_every == 0:
                save()
                saved_step = run.step
        if flags:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        if consistent:
            run.gen.set_state(gen_state)  # undo a half-drawn batch (no-op at a step boundary)
            save()
            saved_step = run.step
        bar.close()
        signum = flags[-1] if flags else signal.SIGINT
        raise TrainingInterrupted(saved_step if ckpt_path is not None else None, config.steps, signum,
                                  ckpt_path) from None
    finally:
        restore_handlers(old)
    bar.close()
