"""Measured run-time estimates of training runs: time a few real optimiser steps.

The resource guard's flop model (``wpgd.numerics.core.limits.require_trainings``) assumes a fixed
rate and is meant to catch orders of magnitude; on an idle CPU it put the highdim grid at d = 100
at ~65× its time, so grids that fit were refused. :func:`measure_step_seconds` builds the run's
own model, sampler and optimiser and times the exact training step of
:mod:`wpgd.numerics.nn.train_loop` (prompt sampling, forward, backward, clipping, AdamW) and one
evaluation forward pass, after one untimed warm-up step. :func:`run_seconds` turns that into the
run's time: ``steps × step + (evaluated prompts / batch) × forward``. :func:`require_run` is the
guard of one run (``wpgd train``): the flop model first, and a measurement only for a run the
flop model would refuse.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from wpgd.numerics.core.limits import (
    DEFAULT_SECONDS,
    TRAINING_RUN_SECONDS,
    require_trainings,
    time_limit,
    training_seconds,
)
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.nn.host_memory import retain_freed_memory
from wpgd.numerics.nn.prompts import PromptSampler, make_generator
from wpgd.numerics.nn.train_config import TrainConfig, build_model, default_key_dim
from wpgd.numerics.nn.train_loop import RunState, forward_backward, make_optimiser, update

__all__ = ["StepTiming", "measure_step_seconds", "run_seconds", "require_run", "require_runs", "MEASURE_UP_TO"]

MEASURE_UP_TO = 1000.0
"""A run the flop model puts above this multiple of ``WPGD_MAX_SECONDS`` is refused unmeasured (the
model was measured at 60–100× the CPU time of d = 64–128 runs; timing steps that large would itself
take long)."""


@dataclass(frozen=True)
class StepTiming:
    """Measured seconds of one training step and of one evaluation forward pass.

    Attributes:
        step: seconds per optimiser step (batch ``batch`` prompts).
        forward: seconds per no-grad forward pass over ``batch`` prompts.
        batch: the training batch size the times are for.
    """

    step: float
    forward: float
    batch: int


def measure_step_seconds(problem: Problem, config: TrainConfig, steps: int = 2, clock=time.perf_counter) -> StepTiming:
    """Time ``steps`` training steps of ``config`` on ``problem`` (after one untimed warm-up step).

    The global torch RNG state is restored afterwards, so a later :func:`~wpgd.numerics.nn.training.train`
    is unaffected. ``clock`` is injectable for tests.

    Returns:
        A :class:`StepTiming` (the median step, the median forward pass).
    """
    config = config.resolved(problem)
    cuda = str(config.device).startswith("cuda")
    if not cuda:
        retain_freed_memory()  # as training does, so the guard times the step that will run

    def sync():
        if cuda:
            torch.cuda.synchronize(config.device)

    with torch.random.fork_rng(devices=[]):
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        sampler = PromptSampler(problem, config.prompt_format_for(problem), dtype=config.torch_dtype,
                                device=config.device)
        model = build_model(config, sampler.token_dim, default_key_dim(config, problem, sampler.token_dim))
        run = RunState(model, *make_optimiser(config, model), gen=make_generator(config.data_seed, config.device))
        step_times, fwd_times = [], []
        for i in range(max(1, int(steps)) + 1):
            sync()
            t0 = clock()
            forward_backward(run, config, sampler, None, problem.null_risk)
            update(run)
            sync()
            t1 = clock()
            batch = sampler.sample(config.batch_size, run.gen)
            model.eval()
            with torch.no_grad():
                sampler.predict(model, batch.tokens)
            sync()
            t2 = clock()
            if i:  # the first step warms up the allocator and the kernels
                step_times.append(t1 - t0)
                fwd_times.append(t2 - t1)
    return StepTiming(step=float(sorted(step_times)[len(step_times) // 2]),
                      forward=float(sorted(fwd_times)[len(fwd_times) // 2]), batch=int(config.batch_size))


def run_seconds(config: TrainConfig, timing: StepTiming, scale: float = 1.0) -> float:
    """Estimated seconds of a whole run (``config`` resolved): its steps plus its periodic and final
    held-out evaluations, from a measured :class:`StepTiming` multiplied by ``scale`` (the
    cost ratio of this run's prompt length to the measured one's; 1 = the measured run itself)."""
    evaluated = config.eval_prompts * (config.steps // max(1, config.eval_every) + 1) + config.final_prompts
    return scale * (config.steps * timing.step + evaluated / timing.batch * timing.forward)


def require_run(problem: Problem, config: TrainConfig, *, measure=None, log=None) -> None:
    """Refuse one training run (``config`` resolved) over the memory limit, or whose run time exceeds
    ``WPGD_MAX_SECONDS`` (default :data:`~wpgd.numerics.core.limits.TRAINING_RUN_SECONDS`, 4 h: a run
    shows its progress and checkpoints, and Ctrl-C keeps the work): :func:`require_runs` of the one
    run. The flop model refused default runs at d = 64 (3.7 h estimated, 4 min measured) and
    d = 128 (2.7 days estimated, 38 min measured).

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    require_runs([(problem, config)], default_limit=TRAINING_RUN_SECONDS, measure=measure, log=log)


def require_runs(runs, parallel: int = 1, *, default_limit: float = DEFAULT_SECONDS, measure=None, log=None) -> None:
    """Refuse a set of training runs (``(problem, resolved config)`` pairs, ``parallel`` at a time)
    over the memory limit, or whose time exceeds ``WPGD_MAX_SECONDS`` (default ``default_limit``,
    1 h unless given). Time: the flop model of ``wpgd.numerics.core.limits`` first (an upper
    bound, so a set it passes starts at once); a set it refuses is timed, each distinct run with a
    few real steps (:func:`measure_step_seconds`, or ``measure(problem, config)``), and refused only
    when the measured estimate (:func:`run_seconds`, summed and divided by ``parallel``) is over
    the limit, or unmeasured when the flop model is over :data:`MEASURE_UP_TO` × the limit.
    ``log`` gets a line before the measurement.

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    runs = list(runs)
    if not runs:
        return
    par = min(max(1, int(parallel)), len(runs))
    require_trainings(runs, parallel=par, seconds=0.0)  # memory only
    limit = time_limit(default_limit)
    seconds = sum(training_seconds(problem, config) for problem, config in runs) / par  # the flop model
    if seconds <= limit:
        return
    if seconds <= MEASURE_UP_TO * limit:  # else refused unmeasured
        if log is not None:
            what = "this run" if len(runs) == 1 else f"these {len(runs)} runs"
            log(f"the flop model puts {what} over the time limit; timing a few training steps")
        timed: dict = {}
        total = 0.0
        for problem, config in runs:
            key = (id(problem), repr(config.to_dict()))  # a run listed twice is timed once
            if key not in timed:
                timed[key] = run_seconds(config, (measure or measure_step_seconds)(problem, config))
            total += timed[key]
        seconds = total / par
    require_trainings(runs, parallel=par, seconds=seconds, default_limit=default_limit)
