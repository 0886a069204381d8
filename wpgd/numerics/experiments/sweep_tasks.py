"""What one sweep task computes (on a worker), the tasks of a grid, and the rows of its results.

Two task kinds, both calling the existing science functions:

* ``theory``: the optimum of one weight class at one problem
  (:func:`wpgd.numerics.core.references.class_risk`); a few milliseconds;
* ``train``: one training run (:func:`wpgd.numerics.nn.training.train`) in its run folder, resumed from
  its checkpoint when one of the same settings is there (a stale one is replaced). Its problem is
  a spec table (``wpgd sweep``) or a Figure-1 panel at n demonstrations (the experiment presets).

A task configuration is plain JSON (:class:`wpgd.numerics.experiments.sweep.SweepTask`); :func:`execute` is the
function the engine sends to the workers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wpgd.numerics.core.convergence import convergence_status
from wpgd.numerics.core.errors import InvalidProblemError, SpecError
from wpgd.numerics.core.references import MODEL_KINDS, class_risk
from wpgd.numerics.core.spec import parse_spec
from wpgd.numerics.experiments.panels import PanelSpec
from wpgd.numerics.experiments.sweep import SweepTask
from wpgd.numerics.experiments.sweep_grid import SweepGrid, _resolve_files, grid_points, point_problem

__all__ = ["execute", "theory_task", "train_task", "grid_tasks", "result_rows", "ROW_FIELDS"]

ROW_FIELDS = {
    "theory": ["class", "risk", "normalized_risk", "null_risk", "key"],
    "train": [
        "model",
        "seed",
        "layers",
        "risk",
        "normalized_risk",
        "ci_low",
        "ci_high",
        "status",
        "theory_class",
        "theory_risk",
        "gap",
        "run",
    ],
}
"""The CSV columns after the axis columns, by sweep kind (risks in the units of
``wpgd.numerics.core.references``: ``risk`` raw, the others normalised by the null risk)."""


def task_problem(config: dict):
    """The problem of a task configuration: its spec, or its panel at its n and d."""
    if "spec" in config:

        return parse_spec(config["spec"], "/")  # file paths are absolute (sweep_grid._resolve_files)

    return PanelSpec(**config["panel"]).problem(int(config["n"]), int(config["d"]))


def theory_task(config: dict, run_dir=None) -> dict:
    """The optimum of ``config["class"]`` at ``config["spec"]``: raw and normalised risk."""

    problem = task_problem(config)
    ref = class_risk(problem, config["class"])
    return {
        "risk": ref.risk,
        "normalized_risk": ref.normalized,
        "null_risk": float(problem.null_risk),
        "label": ref.label,
    }


def train_task(config: dict, run_dir) -> dict:
    """Train one run into ``run_dir``; returns its ``metrics.json`` content."""
    import torch

    from wpgd.numerics.nn.training import CheckpointError, TrainConfig, checkpoint_matches, train

    problem = task_problem(config)
    cfg = TrainConfig.from_dict(config["config"])
    if cfg.threads is None:
        torch.set_num_threads(1)  # one thread per worker process
    ckpt = Path(run_dir) / "checkpoint.pt"
    if ckpt.exists():
        try:
            stale = not checkpoint_matches(ckpt, cfg, problem)
        except CheckpointError as exc:
            print(f"wpgd sweep: {exc}; starting that run afresh", file=sys.stderr)
            stale = True
        if stale:
            ckpt.unlink()  # a run of other settings: the sweep owns its run folders, start afresh
    extra = {"panel": config["panel"]["name"]} if "panel" in config else {"problem_spec": config["spec"]}
    res = train(problem, cfg, run_dir, extra_config=extra)
    return res.metrics


def execute(config: dict, run_dir=None) -> dict:
    """The engine's task function: dispatch on ``config["kind"]``."""
    kind = config.get("kind")
    if kind == "theory":
        return theory_task(config, run_dir)
    if kind == "train":
        return train_task(config, run_dir)
    raise InvalidProblemError(f"unknown sweep task kind {kind!r}")


def grid_tasks(grid: SweepGrid, out_dir, *, device: str = "cpu") -> list[tuple[dict, SweepTask]]:
    """Validate every point of ``grid`` and build its tasks.

    Args:
        grid: a parsed grid.
        out_dir: the sweep's results folder (records in ``points/``, run folders in ``runs/``).
        device: torch device of training runs.

    Returns:
        list of (row labels: axis values and class / model, seed, layers; task).

    Raises:
        SpecError: a point whose problem or training settings are invalid (naming the point).
    """
    out = Path(out_dir).resolve()
    base = Path(grid.base_dir)
    tasks = []
    for axes, spec, train in grid_points(grid):
        problem = point_problem(spec, base, axes)
        files: dict = {}
        spec_abs = _resolve_files(spec, base, files)
        common = {"spec": spec_abs, "files": files}
        if grid.kind == "theory":
            for cls in grid.classes:
                task = SweepTask.make({"kind": "theory", **common, "class": cls}, "")
                tasks.append(
                    ({**axes, "class": cls}, _with_record(task, out / "points" / f"{task.key}.json"))
                )
            continue
        for model in grid.models:
            for seed in grid.seeds:
                for layers in grid.layers:
                    cfg = _train_config(problem, model, seed, layers, train, device, axes)
                    task = SweepTask.make({"kind": "train", **common, "config": cfg}, "")
                    run = out / "runs" / task.key
                    task = SweepTask(task.key, task.config, str(run / "result.json"), str(run))
                    tasks.append(({**axes, "model": model, "seed": seed, "layers": layers}, task))
    return tasks


def _with_record(task: SweepTask, record: Path) -> SweepTask:
    return SweepTask(task.key, task.config, str(record), task.run_dir)


def _train_config(problem, model: str, seed: int, layers: int, train: dict, device: str, axes: dict) -> dict:
    try:
        from wpgd.numerics.nn.train_config import TrainConfig
    except ImportError as exc:
        raise InvalidProblemError(f'kind = "train" needs PyTorch ({exc}); pip install ".[gla]"') from None
    over = {
        "data_seed": seed + 1,
        "eval_seed": seed + 2,
        "final_seed": seed + 3,
        "device": device,
        **train,
        "seed": seed,
        "layers": layers,
        "progress": False,
    }
    try:
        return TrainConfig.for_model(model, **over).resolved(problem).to_dict()
    except (InvalidProblemError, TypeError, ValueError) as exc:
        where = ", ".join(f"{k} = {json.dumps(v)}" for k, v in axes.items()) or "the base spec"
        raise SpecError(f"grid point {where}, model {model}: bad training settings ({exc})") from None


def _cell(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def result_rows(kind: str, labelled: list[tuple[dict, SweepTask]], results: dict, out_dir) -> list[dict]:
    """One row per finished task, in grid order (unfinished tasks are left out).

    Args:
        kind: "theory" or "train".
        labelled: :func:`grid_tasks` output.
        results: key -> result (:class:`wpgd.numerics.experiments.sweep.SweepOutcome` ``results``).
        out_dir: the results folder (run paths are given relative to it).
    """

    rows = []
    for labels, task in labelled:
        res = results.get(task.key)
        if res is None:
            continue
        row = {k: _cell(v) for k, v in labels.items()}
        if kind == "theory":
            row.update(
                risk=res["risk"],
                normalized_risk=res["normalized_risk"],
                null_risk=res["null_risk"],
                key=task.key,
            )
        else:
            refs = {r["class"]: r for r in res.get("references", [])}
            primary = MODEL_KINDS[labels["model"]].classes[0]
            ref = refs.get(primary, {})
            ci = res.get("normalized_ci") or [None, None]
            row.update(
                risk=res.get("risk"),
                normalized_risk=res.get("normalized_risk"),
                ci_low=ci[0],
                ci_high=ci[1],
                status=convergence_status(res)["status"],
                theory_class=primary,
                theory_risk=ref.get("normalized_risk"),
                gap=ref.get("gap"),
                run=str(Path(task.run_dir).relative_to(Path(out_dir).resolve())),
            )
        rows.append(row)
    return rows
