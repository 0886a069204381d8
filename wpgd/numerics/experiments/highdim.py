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
from wpgd.numerics.experiments.experiments import PanelSpec, _job, _row, _run_jobs

__all__ = ["HIGHDIM_PANEL", "HighdimConfig", "eval_batch_for", "run_highdim"]

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


def run_highdim(config: HighdimConfig, out_dir, *, progress: bool = True) -> dict:
    """Train every model at every n, compare with theory; write ``highdim.json``.

    Finished runs with the same settings are reused (as in ``wpgd experiment figure1``).

    Returns:
        The content of ``highdim.json``: {"config", "rows", "theory", "seconds", "device"}; each
        row has the trained normalised risk, its CI, the class optimum, the gap, the status and
        seconds per training step.
    """
    from wpgd.numerics.nn.train_config import TrainConfig

    bad = sorted(set(config.models) - {"linear", "scalar"})
    if bad:
        raise InvalidProblemError(f"highdim trains linear and scalar models, not {', '.join(bad)}")
    if not config.n_values or min(config.n_values) < 2:
        raise InvalidProblemError("highdim needs n values ≥ 2 (two segments)")
    out = Path(out_dir)
    write_json_atomic(out / "highdim_config.json", config.to_dict())
    t0 = time.perf_counter()
    jobs, keys = [], []
    for n in config.n_values:
        for m in config.models:
            over = {"eval_batch": eval_batch_for(config.device, n, config.d), **config.train, "device": config.device,
                    "progress": False}
            if config.amp != "off":
                over["amp"] = config.amp
            cfg = TrainConfig.for_model(m, **over)
            jobs.append(_job(HIGHDIM_PANEL, n, config.d, cfg, out / "runs" / f"n{n}-{m}"))
            keys.append(("highdim", n, m))
    metrics = _run_jobs(jobs, config.jobs, progress, "highdim runs")
    rows = []
    for met, key, job in zip(metrics, keys, jobs):
        row = _row(met, key)
        steps = job["config"]["steps"]
        row.update(steps=steps, seconds_per_step=(met.get("train_seconds") or 0.0) / steps, seed=job["config"]["seed"],
                   batch_size=job["config"]["batch_size"])
        rows.append(row)
    theory = {"n": list(config.n_values)}
    for cls in ("linear", "scalar"):
        theory[cls] = [class_risk(HIGHDIM_PANEL.problem(n, config.d), cls).normalized for n in config.n_values]
    result = {"config": config.to_dict(), "panel": asdict(HIGHDIM_PANEL), "d": config.d, "rows": rows,
              "theory": theory, "device": config.device, "seconds": time.perf_counter() - t0}
    write_json_atomic(out / "highdim.json", result)
    return result
