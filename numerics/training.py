"""Train a gated-linear-attention model on fresh multitask prompts, with exact resume.

One run = one frozen :class:`TrainConfig` + one :class:`~numerics.problem.Problem`. The run
folder holds::

    config.json      the config, the problem, the token format (written first)
    checkpoint.pt    model, optimizer, scheduler, generator state and step (atomic)
    history.json     periodic held-out evaluations (training curve)
    metrics.json     final held-out risk with bootstrap CIs, theory references and gaps

Loss: the squared error of the label read-out at the query position, divided by
``problem.null_risk`` (so the progress bar shows the normalised risk). Optimiser: AdamW with
linear warm-up then cosine (or constant) learning rate and gradient-norm clipping. A run is
deterministic given its seeds on a given device and thread count; a run interrupted at any
checkpoint (or by Ctrl-C, which writes one) continues bit-for-bit.
"""

from __future__ import annotations

import io
import math
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .errors import InvalidProblemError, SolverError
from .evaluation import HeldOutSet, evaluate, make_control
from .problem import Problem
from .prompts import PromptSampler, make_generator
from .references import theory_references
from .train_config import TrainConfig, build_model, default_key_dim, with_overrides

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "build_model",
    "checkpoint_matches",
    "default_key_dim",
    "final_metrics",
    "load_checkpoint",
    "train",
    "with_overrides",
]

# Fields that may differ between a checkpoint and the run resuming it (they do not change the
# trajectory).
_NON_SEMANTIC = {"checkpoint_every", "progress"}
_RESTART_SEED_STRIDE = 1000


class TrainingDivergedError(SolverError):
    """The training loss became NaN/Inf."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model.
        metrics: the content of ``metrics.json``.
        history: periodic evaluations (list of dicts).
    """

    model: torch.nn.Module
    metrics: dict
    history: list


def _lr_factor(config: TrainConfig):
    warm = int(round(config.warmup * config.steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "constant":
            return 1.0
        t = (step - warm) / max(1, config.steps - warm)
        return config.min_lr_frac + (1 - config.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


def _is_gate(name: str) -> bool:
    """Gate parameters of ``GLALayer`` (``W_g``, ``b_g``), which get ``gate_lr_mult``."""
    return name.rsplit(".", 1)[-1] in ("W_g", "b_g")


def _save_checkpoint(path: Path, state: dict) -> None:
    from .fileio import write_atomic

    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path) -> dict:
    """Load a checkpoint written by :func:`train` (tensors only; no pickled code)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def checkpoint_matches(path, config: TrainConfig, problem: Problem) -> bool:
    """Whether the checkpoint at ``path`` belongs to this config and problem (so it can resume)."""
    state = load_checkpoint(path)
    resolved = config.resolved(problem).to_dict()  # as train() stores it (derived defaults filled in)
    return _semantic(state["config"]) == _semantic(resolved) and state["problem"] == _fingerprint(problem)


def _semantic(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in _NON_SEMANTIC}


def train(problem: Problem, config: TrainConfig, out_dir=None, *, resume: bool = True, model=None,
          stop_after: int | None = None, extra_config: dict | None = None) -> TrainResult:
    """Train one model; write the run folder when ``out_dir`` is given.

    Args:
        problem: the setting.
        config: the run's config.
        out_dir: run folder (None = nothing written, no checkpoints).
        resume: continue from ``out_dir/checkpoint.pt`` if present (it must match the config).
        model: a ready model with ``predict(tokens) -> (B,)`` instead of :func:`build_model`
            (its initial parameters are then the caller's business).
        stop_after: stop (with a checkpoint) after this global step, as an interruption would.
        extra_config: additional JSON entries for ``config.json`` (e.g. the spec path).

    Returns:
        A :class:`TrainResult`; ``metrics`` is empty when stopped early.

    Raises:
        TrainingDivergedError: the loss became non-finite.
        InvalidProblemError: the checkpoint belongs to a different config or problem.
    """
    from .fileio import progress_bar, write_json_atomic

    config = config.resolved(problem)  # problem-derived defaults: step budget, gate bias (train_config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    out = Path(out_dir) if out_dir is not None else None
    sampler = PromptSampler(problem, config.prompt_format_for(problem), dtype=config.torch_dtype,
                            device=config.device)
    key_dim = default_key_dim(config, problem, sampler.token_dim)
    own_model = model is None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    state = None
    if ckpt_path is not None and resume and ckpt_path.exists():
        if not checkpoint_matches(ckpt_path, config, problem):
            raise InvalidProblemError(
                f"{ckpt_path} belongs to a different config or problem; use another --out or --no-resume"
            )
        state = load_checkpoint(ckpt_path)
    attempt = int(state["attempt"]) if state is not None else 0

    def fresh(attempt: int):
        """Model (unless the caller gave one), optimizer and schedule of one attempt."""
        m = build_model(replace(config, seed=config.seed + _RESTART_SEED_STRIDE * attempt),
                        sampler.token_dim, key_dim) if own_model else model
        ps = [p for p in m.parameters() if p.requires_grad]
        gate = [p for name, p in m.named_parameters() if p.requires_grad and _is_gate(name)]
        rest = [p for name, p in m.named_parameters() if p.requires_grad and not _is_gate(name)]
        groups = [{"params": rest}] + ([{"params": gate, "lr": config.lr * config.gate_lr_mult}] if gate else [])
        o = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
        return m, ps, o, torch.optim.lr_scheduler.LambdaLR(o, _lr_factor(config))

    model, params, opt, sched = fresh(attempt)
    run_info = {
        "config": config.to_dict(),
        "problem": _fingerprint(problem),
        "prompts": sampler.describe(),
        "key_dim": key_dim,
        **(extra_config or {}),
    }
    gen = make_generator(config.data_seed, config.device)
    pool = None
    if config.train_pool:
        pool = sampler.sample(config.train_pool, make_generator(config.data_seed + 7919, config.device))
    step, history, ema = 0, [], None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        step, history, ema = int(state["step"]), list(state["history"]), state["ema"]
    if out is not None:
        write_json_atomic(out / "config.json", run_info)
    probe = int(round(config.restart_at * config.steps)) if own_model and config.restarts else 0

    def checkpoint():
        if ckpt_path is None:
            return
        _save_checkpoint(ckpt_path, {
            "config": config.to_dict(), "problem": _fingerprint(problem), "step": step,
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "generator": gen.get_state(), "history": history, "ema": ema, "attempt": attempt,
        })

    heldout = HeldOutSet(sampler, config.eval_prompts, config.eval_seed, batch_size=config.eval_batch)
    nr = problem.null_risk
    bar = progress_bar(config.steps, f"train {config.model} L={config.layers}", enabled=config.progress, unit="step")
    bar.update(step)
    t0 = time.perf_counter()
    last = config.steps if stop_after is None else min(config.steps, int(stop_after))
    # Ctrl-C: in the main thread SIGINT only sets a flag, and the loop stops at the next step
    # boundary with a checkpoint. A KeyboardInterrupt raised elsewhere mid-step is handled by
    # rewinding the data generator if the update had not started, else by keeping the last
    # checkpoint (which is exact too, only older).
    interrupted: list = []
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    consistent = True
    gen_state = gen.get_state()
    try:
        while step < last:
            if interrupted:
                raise KeyboardInterrupt
            model.train()
            if pool is None:
                batch = sampler.sample(config.batch_size, gen)
                tokens, target = batch.tokens, batch.target
            else:
                idx = torch.randint(config.train_pool, (config.batch_size,), generator=gen, device=config.device)
                tokens, target = pool.tokens[idx], pool.target[idx]
            loss = ((sampler.predict(model, tokens) - target) ** 2).mean() / nr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, config.clip) if config.clip > 0 else None
            lval = float(loss.detach())
            if not math.isfinite(lval):
                raise TrainingDivergedError(
                    f"training loss became {lval} at step {step}; lower --lr or use --dtype float64"
                )
            consistent = False
            opt.step()
            sched.step()
            step += 1
            ema = lval if ema is None else 0.98 * ema + 0.02 * lval
            if step % config.eval_every == 0 or step == config.steps:
                model.eval()
                est, _ = evaluate(model, heldout, resamples=200, seed=config.eval_seed)
                history.append({
                    "step": step, "attempt": attempt, "train_risk_ema": ema, "heldout_risk": est.normalized,
                    "heldout_ci": [est.ci_low / nr, est.ci_high / nr], "lr": sched.get_last_lr()[0],
                    "grad_norm": None if gnorm is None else float(gnorm),
                })
                if out is not None:
                    write_json_atomic(out / "history.json", history)
            if step == probe and attempt < config.restarts:
                model.eval()
                est, _ = evaluate(model, heldout, resamples=200, seed=config.eval_seed)
                lin = make_control(problem).risk / nr  # the linear-attention optimum
                if (est.normalized - lin) > config.restart_threshold * max(1.0 - lin, 0.0):
                    # Still on the plateau near risk 1: start again from a fresh initialisation.
                    history.append({"step": step, "attempt": attempt, "restart": True,
                                    "heldout_risk": est.normalized})
                    attempt += 1
                    model, params, opt, sched = fresh(attempt)
                    step, ema = 0, None
                    bar.reset()
            gen_state = gen.get_state()
            consistent = True
            bar.update(1)
            if ema is not None:
                bar.set_postfix(risk=f"{ema:.4f}", refresh=False)
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint()
        if interrupted:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        if consistent:
            gen.set_state(gen_state)  # undo a half-drawn batch (no-op at a step boundary)
            checkpoint()
        bar.close()
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    bar.close()
    train_seconds = time.perf_counter() - t0
    checkpoint()
    if step < config.steps:
        return TrainResult(model, {}, history)
    metrics = final_metrics(model, problem, config, sampler, key_dim)
    metrics.update(train_seconds=train_seconds, attempts=attempt + 1,
                   final_heldout=history[-1] if history else None)
    if out is not None:
        write_json_atomic(out / "metrics.json", metrics)
    return TrainResult(model, metrics, history)


def final_metrics(model, problem: Problem, config: TrainConfig, sampler: PromptSampler, key_dim: int) -> dict:
    """Final held-out evaluation on ``config.final_prompts`` fresh prompts, against theory.

    Returns:
        dict with ``plain`` and ``control_variate`` estimates, the ``headline`` one, the theory
        ``references`` and the relative ``gap`` of the headline risk to each.
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
    plain, cv = evaluate(model, heldout, control, seed=config.final_seed)
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
        "references": [
            {**r.to_dict(), "gap": (head.mean - r.risk) / r.risk} for r in refs
        ],
        "reference_notes": notes,
        "null_risk": problem.null_risk,
    }


def _fingerprint(problem: Problem) -> dict:
    """The problem's description plus SHA-256 digests of Σ and R̄ (JSON round-tripped), so a
    checkpoint is never resumed on a different problem."""
    import hashlib
    import json

    import numpy as np

    from .fileio import to_jsonable

    desc = dict(problem.describe())
    desc["sigma_sha256"] = hashlib.sha256(np.ascontiguousarray(problem.sigma).tobytes()).hexdigest()
    if problem.task_matrix is not None:
        desc["task_matrix_sha256"] = hashlib.sha256(np.ascontiguousarray(problem.task_matrix).tobytes()).hexdigest()
    return json.loads(json.dumps(to_jsonable(desc)))
