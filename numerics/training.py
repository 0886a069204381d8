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
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from .errors import InvalidProblemError, SolverError
from .evaluation import HeldOutSet, evaluate, make_control
from .problem import Problem
from .prompts import PromptFormat, PromptSampler, make_generator
from .references import MODEL_KINDS, theory_references

__all__ = ["TrainConfig", "TrainResult", "TrainingDivergedError", "build_model", "train", "load_checkpoint"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_SCHEDULES = ("cosine", "constant")
# Fields that may differ between a checkpoint and the run resuming it (they do not change the
# trajectory).
_NON_SEMANTIC = {"checkpoint_every", "progress"}
_RESTART_SEED_STRIDE = 1000


class TrainingDivergedError(SolverError):
    """The training loss became NaN/Inf."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (dumped to ``config.json``).

    Attributes:
        model: "linear", "scalar", "scalar-nodelim" or "vector" (see ``numerics.references``).
        layers: number of GLA layers (1–3 in the experiments).
        key_dim: key width; None = the model family's default (see :func:`default_key_dim`).
        num_heads: attention heads.
        mode: GLA kernel: "parallel", "recurrent", or "auto" (recurrent for vector gating, whose
            masked parallel form costs O(T²·K) memory per prompt; parallel otherwise).
        init_value_scale: multiplies the value projections ``W_v`` of the random initialisation.
            With the module's default scale the initial output is mostly noise; the optimiser
            first shrinks every projection and some seeds then sit for thousands of steps on the
            plateau near risk 1 (the saddle at zero). A smaller value init (0.1) avoids that
            (docs/training.md). 1.0 keeps ``GLAModel``'s initialisation unchanged.
        restarts: how many times a run still on the plateau is restarted from a fresh
            initialisation (seed + 1000·attempt); 0 = never.
        restart_at: when the plateau test is made, as a fraction of ``steps``.
        restart_threshold: held-out normalised risk above which the run counts as stuck.
        delimiter: "none", "flag" or "label"; None = the family's default.
        delimiter_value: value written in the delimiter slot.
        context: "none" or "onehot" (per-segment context features).
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
    """

    model: str = "scalar"
    layers: int = 1
    key_dim: int | None = None
    num_heads: int = 1
    mode: str = "auto"
    init_value_scale: float = 0.1
    restarts: int = 3
    restart_at: float = 0.3
    restart_threshold: float = 0.97
    delimiter: str | None = None
    delimiter_value: float = 1.0
    context: str = "none"
    steps: int = 1000
    batch_size: int = 256
    train_pool: int = 0
    lr: float = 3e-2
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

    def __post_init__(self):
        if self.model not in MODEL_KINDS:
            raise InvalidProblemError(f"model must be one of {', '.join(MODEL_KINDS)}, got {self.model!r}")
        if self.dtype not in _DTYPES:
            raise InvalidProblemError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.mode not in ("auto", "parallel", "recurrent"):
            raise InvalidProblemError(f"mode must be auto, parallel or recurrent, got {self.mode!r}")
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
        if not (self.init_value_scale > 0 and math.isfinite(self.init_value_scale)):
            raise InvalidProblemError(f"init_value_scale must be positive, got {self.init_value_scale}")
        if self.threads is not None and self.threads < 1:
            raise InvalidProblemError(f"threads must be ≥ 1, got {self.threads}")

    @property
    def prompt_format(self) -> PromptFormat:
        """The token layout of this run's prompts."""
        delim = self.delimiter if self.delimiter is not None else MODEL_KINDS[self.model].delimiter
        return PromptFormat(delimiter=delim, delimiter_value=self.delimiter_value, context=self.context)

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

    torch.manual_seed(config.seed)
    gating = MODEL_KINDS[config.model].gating
    mode = config.mode if config.mode != "auto" else ("recurrent" if gating == "vector" else "parallel")
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
    if config.init_value_scale != 1.0:
        with torch.no_grad():
            for layer in model.layers:
                layer.W_v.mul_(config.init_value_scale)
    return model


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


def _save_checkpoint(path: Path, state: dict) -> None:
    from wpgd.io import write_atomic

    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path) -> dict:
    """Load a checkpoint written by :func:`train` (tensors only; no pickled code)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


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
    from wpgd.io import progress_bar, write_json_atomic

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    out = Path(out_dir) if out_dir is not None else None
    sampler = PromptSampler(problem, config.prompt_format, dtype=config.torch_dtype, device=config.device)
    key_dim = default_key_dim(config, problem, sampler.token_dim)
    own_model = model is None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    state = None
    if ckpt_path is not None and resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if _semantic(state["config"]) != _semantic(config.to_dict()) or state["problem"] != _fingerprint(problem):
            raise InvalidProblemError(
                f"{ckpt_path} belongs to a different config or problem; use another --out or --no-resume"
            )
    attempt = int(state["attempt"]) if state is not None else 0

    def fresh(attempt: int):
        """Model (unless the caller gave one), optimizer and schedule of one attempt."""
        m = build_model(replace(config, seed=config.seed + _RESTART_SEED_STRIDE * attempt),
                        sampler.token_dim, key_dim) if own_model else model
        ps = [p for p in m.parameters() if p.requires_grad]
        o = torch.optim.AdamW(ps, lr=config.lr, weight_decay=config.weight_decay)
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
            loss = ((model.predict(tokens) - target) ** 2).mean() / nr
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
                if est.normalized > config.restart_threshold:
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

    from wpgd.io import to_jsonable

    desc = dict(problem.describe())
    desc["sigma_sha256"] = hashlib.sha256(np.ascontiguousarray(problem.sigma).tobytes()).hexdigest()
    if problem.task_matrix is not None:
        desc["task_matrix_sha256"] = hashlib.sha256(np.ascontiguousarray(problem.task_matrix).tobytes()).hexdigest()
    return json.loads(json.dumps(to_jsonable(desc)))


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (for CLI flags left unset)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
