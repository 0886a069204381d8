"""The paper's higher-dimensional setting: linear attention and scalar GLA at d = 100.

The setting the paper's authors reported in their rebuttal: Σ = I in d = 100 dimensions, two
equal task segments (independent tasks), query correlations c = (0.2, 0.8) — the near-query
segment the more informative — no label noise, and n ∈ {100, 200, 400, 1000} demonstrations.
Each model family is trained with its defaults (``TrainConfig.for_model``: the recipe and step
budget of ``wpgd.numerics.nn.train_config``) and compared with its class's theory optimum (linear
attention: ω ∝ 1; scalar gating with delimiters: ω ≥ 0 non-decreasing), with the 95% interval
of the final held-out evaluation and the convergence status of every run.

Device rule (docs/training-runs.md, "The paper's scale"): the training recipe — steps, batch size,
learning rate — is the family's default on every device, so CPU and GPU runs are the same
experiment and their results comparable. The device sets only what does not change the result:
the evaluation batch (prompts per forward pass; :func:`eval_batch_for`, from a memory budget
per device) and whether bf16 autocast may be used (off unless requested: ``amp``).

Results: ``highdim.json`` (rows, theory, config, timings), ``highdim_config.json`` beside it, the
run folders under ``runs/``, and ``highdim.png`` / ``report.md`` rendered from the JSON by
:mod:`wpgd.numerics.experiments.plotting`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import write_json_atomic
from wpgd.numerics.core.references import class_risk
from wpgd.numerics.experiments.experiments import PanelSpec, _job, _row, _run_jobs, job_training, unfinished

__all__ = ["HIGHDIM_PANEL", "HighdimConfig", "estimated_seconds", "eval_batch_for", "highdim_jobs", "require_highdim", "run_highdim",
           "train_config_for"]

HIGHDIM_PANEL = PanelSpec("highdim", "Σ = I, two equal segments, c = (0.2, 0.8), σ² = 0",
                          query_correlation=(0.2, 0.8), noise=0.0, models=("linear", "scalar"))
"""The problem family (indexed by n) of the high-dimensional experiment."""

_MEMORY_BUDGET = {"cpu": 512 * 2**20, "cuda": 4 * 2**30}
_LIVE_COPIES = 8  # tokens, keys, values, decays, products and their float64 error copies, roughly


def eval_batch_for(device: str, n: int, d: int, *, budget: int | None = None) -> int:
    """Prompts per evaluation forward pass: a memory budget (512 MiB on CPU, 4 GiB on CUDA) over
    about 8 live float32 copies of one prompt's (n + 2) × (d + 2) tokens, within [64, 4096]."""
    per_prompt = _LIVE_COPIES * 4 * (n + 2) * (d + 2)
    b = (budget or _MEMORY_BUDGET.get(str(device).split(":")[0], _MEMORY_BUDGET["cpu"])) // per_prompt
    return int(min(4096, max(64, b)))


@dataclass(frozen=True)
class HighdimConfig:
    """Settings of the high-dimensional experiment (dumped to ``highdim_config.json``).

    Attributes:
        d: feature dimension.
        n_values: numbers of demonstrations (two equal segments each).
        models: model families ("linear", "scalar").
        train: TrainConfig overrides for every run (e.g. steps, batch_size, seed); empty = the
            family defaults.
        device: torch device of the runs ("cpu" or "cuda").
        amp: "off" or "bf16" (autocast of the training forward pass; evaluation never uses it).
        jobs: runs in parallel (worker processes).
    """

    d: int = 100
    n_values: tuple = (100, 200, 400, 1000)
    models: tuple = ("linear", "scalar")
    train: dict = field(default_factory=dict)
    device: str = "cpu"
    amp: str = "off"
    jobs: int = 1

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)


def train_config_for(config: HighdimConfig, model: str, n: int):
    """The (unresolved) ``TrainConfig`` of the run of ``model`` at ``n``: the family defaults, the
    device's evaluation batch, then ``config.train``."""
    from wpgd.numerics.nn.train_config import TrainConfig

    over = {"eval_batch": eval_batch_for(config.device, n, config.d), **config.train, "device": config.device,
            "progress": False}
    if config.amp != "off":
        over["amp"] = config.amp
    return TrainConfig.for_model(model, **over)


def highdim_jobs(config: HighdimConfig, out: Path) -> tuple[list[dict], list[tuple]]:
    """The training jobs of a highdim run into ``out`` (``runs/n<n>-<model>``) and their keys
    ``("highdim", n, model)``, n outer."""
    jobs, keys = [], []
    for n in config.n_values:
        for m in config.models:
            jobs.append(_job(HIGHDIM_PANEL, n, config.d, train_config_for(config, m, n), Path(out) / "runs" / f"n{n}-{m}"))
            keys.append(("highdim", n, m))
    return jobs, keys


def estimated_seconds(config: HighdimConfig, measure=None, runs=None) -> float:
    """Wall-clock estimate of the grid's runs, measured: for each model, a few real training steps and
    evaluation passes at its smallest n (``wpgd.numerics.nn.step_timing.measure_step_seconds``, or
    ``measure(problem, config)``), scaled to the other n by the prompt length T = n + 3 (a one-layer
    step is linear in T: the last layer is evaluated at the query only), summed over the runs'
    step budgets and evaluations, divided by ``config.jobs``.

    Args:
        runs: the ``(n, model)`` pairs to count (default: the whole grid).
    """
    from wpgd.numerics.nn.step_timing import measure_step_seconds, run_seconds

    measure = measure or measure_step_seconds
    runs = list(runs) if runs is not None else [(n, m) for n in config.n_values for m in config.models]
    total = 0.0
    for m in config.models:
        ns = sorted(n for n, model in runs if model == m)
        if not ns:
            continue
        problem0 = HIGHDIM_PANEL.problem(ns[0], config.d)
        timing = measure(problem0, train_config_for(config, m, ns[0]).resolved(problem0))
        for n in ns:
            problem = HIGHDIM_PANEL.problem(n, config.d)
            total += run_seconds(train_config_for(config, m, n).resolved(problem), timing, scale=(n + 3) / (ns[0] + 3))
    return total / max(1, int(config.jobs))


def require_highdim(config: HighdimConfig, measure=None, log=None, out_dir=None) -> None:
    """Refuse a grid over the memory limit (the guard's upper-bound model) or whose *measured* run
    time (:func:`estimated_seconds`) exceeds ``WPGD_MAX_SECONDS`` (the flop model of
    ``wpgd.numerics.core.limits`` is a fixed-rate bound, recorded at ~65× this grid's CPU time on
    an idle machine; the measurement follows the machine's actual speed and load).
    ``log`` gets a line before the (seconds-long) measurement. With ``out_dir``, runs already
    finished there with the same settings are reused by :func:`run_highdim`, so only the others
    are counted (none left: nothing is measured).

    Raises:
        ResourceLimitError: with the estimate, the limit and how to raise it.
    """
    from wpgd.numerics.core.limits import require_trainings

    if not config.n_values or min(config.n_values) < 2 or set(config.models) - {"linear", "scalar"}:
        return  # run_highdim says what is wrong
    jobs, keys = highdim_jobs(config, out_dir if out_dir is not None else Path("."))
    if out_dir is not None:
        pending = unfinished(jobs)
        if log is not None and len(pending) < len(jobs):
            log(f"highdim: {len(jobs) - len(pending)} of {len(jobs)} runs already finished in {out_dir} (reused)")
        keys = [key for key, job in zip(keys, jobs) if job in pending]
        jobs = pending
    if not jobs:
        return
    runs = [job_training(job) for job in jobs]
    require_trainings(runs, parallel=config.jobs, seconds=0.0)  # memory only
    if log is not None:
        log(f"highdim: estimating the run time (timing a few training steps per model at its smallest n of "
            f"{len(runs)} run(s) to train)")
    require_trainings(runs, parallel=config.jobs, seconds=estimated_seconds(config, measure, [k[1:] for k in keys]))


def seconds_per_step(metrics: dict, steps: int) -> float | None:
    """Training seconds per step of a run's ``metrics.json``: ``train_seconds`` over
    ``train_steps_timed``, the steps of the process that finished it (fewer after a resume; all
    ``steps`` in metrics written before it was recorded). None when that process trained no step
    (it resumed from the final checkpoint, e.g. after its worker was killed in the final
    evaluation): the seconds of the training are not known."""
    timed = metrics.get("train_steps_timed", steps)
    return (metrics.get("train_seconds") or 0.0) / timed if timed else None


def run_highdim(config: HighdimConfig, out_dir, *, progress: bool = True) -> dict:
    """Train every model at every n, compare with theory; write ``highdim.json``.

    Finished runs with the same settings are reused (as in ``wpgd experiment figure1``).

    Returns:
        The content of ``highdim.json``: {"config", "rows", "theory", "seconds", "device"}; each
        row has the trained normalised risk, its CI, the class optimum, the gap, the status and
        seconds per training step.
    """
    bad = sorted(set(config.models) - {"linear", "scalar"})
    if bad:
        raise InvalidProblemError(f"highdim trains linear and scalar models, not {', '.join(bad)}")
    if not config.n_values or min(config.n_values) < 2:
        raise InvalidProblemError("highdim needs n values ≥ 2 (two segments)")
    out = Path(out_dir)
    write_json_atomic(out / "highdim_config.json", config.to_dict())
    t0 = time.perf_counter()
    jobs, keys = highdim_jobs(config, out)
    metrics = _run_jobs(jobs, config.jobs, progress, "highdim runs")
    rows = []
    for met, key, job in zip(metrics, keys, jobs):
        row = _row(met, key)
        steps = job["config"]["steps"]
        row.update(steps=steps, seconds_per_step=seconds_per_step(met, steps), seed=job["config"]["seed"],
                   batch_size=job["config"]["batch_size"])
        rows.append(row)
    theory = {"n": list(config.n_values)}
    for cls in ("linear", "scalar"):
        theory[cls] = [class_risk(HIGHDIM_PANEL.problem(n, config.d), cls).normalized for n in config.n_values]
    result = {"config": config.to_dict(), "panel": asdict(HIGHDIM_PANEL), "d": config.d, "rows": rows,
              "theory": theory, "device": config.device, "seconds": time.perf_counter() - t0}
    write_json_atomic(out / "highdim.json", result)
    return result
