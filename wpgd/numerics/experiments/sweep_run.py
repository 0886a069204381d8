"""``run_sweep``: a grid file in, a results folder out (the library call behind ``wpgd sweep``).

The folder::

    DIR/grid.toml        a copy of the grid file; DIR/base_spec.toml: a copy of its base spec
    DIR/sweep.json       kind, axes, columns, task keys, counts and timings of the last run
    DIR/results.csv      one row per finished task (rebuilt atomically as tasks finish)
    DIR/results.parquet  the same, when pyarrow is importable
    DIR/points/KEY.json  the record of a finished theory task (KEY = hash of its configuration)
    DIR/runs/KEY/        the run folder of a training task (config.json, checkpoint.pt,
                         metrics.json, history.json) and its record result.json
    DIR/sweep_AXIS.png   the plot against the first axis (``wpgd sweep plot`` draws others)
"""

from __future__ import annotations

import os
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import write_atomic, write_json_atomic
from wpgd.numerics.experiments.sweep import read_record, run_tasks
from wpgd.numerics.experiments.sweep_grid import load_grid
from wpgd.numerics.experiments.sweep_output import plot_sweep, write_results
from wpgd.numerics.experiments.sweep_tasks import ROW_FIELDS, execute, grid_tasks, result_rows

__all__ = ["run_sweep", "auto_batch"]


def auto_batch(kind: str, todo: int, workers: int) -> int:
    """Tasks per submitted job: 1 for training; theory tasks in about 16 jobs per worker, at most 256."""
    if kind != "theory":
        return 1
    return int(max(1, min(256, todo // max(1, 16 * workers))))


def run_sweep(
    grid_path,
    out_dir,
    *,
    scheduler: str = "local",
    workers: int | None = None,
    progress: bool = True,
    device: str = "cpu",
    gpu_resource: bool = False,
    plot: bool = True,
    inprocess_below: int | None = None,
) -> dict:
    """Run (or resume) the sweep of a grid file into ``out_dir``.

    Args:
        grid_path: the grid TOML (:mod:`wpgd.numerics.experiments.sweep_grid`).
        out_dir: results folder.
        scheduler: "local" or a Dask scheduler address.
        workers: local worker processes (default: the CPU count, at most 8).
        progress: progress bar on stderr.
        device: torch device of training runs.
        gpu_resource: training jobs request the Dask worker resource ``GPU = 1``.
        plot: draw ``sweep_<first axis>.png`` at the end.
        inprocess_below: run in this process when fewer tasks are left (default: 256 for theory
            sweeps, whose tasks take milliseconds, so a worker pool would cost more than it saves; 2
            for training).

    Returns:
        The content of ``sweep.json``: kind, axes, columns, tasks, computed, cached, failed,
        errors (first five), seconds, backend, workers, files.
    """

    grid = load_grid(grid_path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidProblemError(f"--out {str(out)!r} exists and is not a folder")
    workers = workers or min(8, os.cpu_count() or 1)
    labelled = grid_tasks(grid, out, device=device)
    tasks = [t for _, t in labelled]
    columns = grid.axis_names + ROW_FIELDS[grid.kind]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "grid.toml", grid.text.encode("utf-8"))
    write_atomic(out / "base_spec.toml", grid.spec_text.encode("utf-8"))

    results = {t.key: r for t in tasks if (r := read_record(t)) is not None}
    todo = len(tasks) - len(results)
    meta = {
        "kind": grid.kind,
        "axes": grid.axis_names,
        "columns": columns,
        "tasks": len(tasks),
        "status": "running",
        "keys": [t.key for t in tasks],
    }
    write_json_atomic(out / "sweep.json", meta)

    def flush() -> None:
        write_results(out, columns, result_rows(grid.kind, labelled, results, out))

    def on_result(task, result) -> None:
        results[task.key] = result

    outcome = run_tasks(
        tasks,
        execute,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        desc=f"sweep ({grid.kind})",
        batch_size=auto_batch(grid.kind, todo, workers),
        inprocess_below=(
            inprocess_below if inprocess_below is not None else 256 if grid.kind == "theory" else 2
        ),
        resources={"GPU": 1} if gpu_resource and grid.kind == "train" else None,
        on_result=on_result,
        flush=flush,
    )
    results.update(outcome.results)
    flush()
    meta.update(
        {
            "status": "finished" if not outcome.errors else "incomplete",
            "computed": outcome.computed,
            "cached": outcome.cached,
            "failed": len(outcome.errors),
            "errors": list(outcome.errors.values())[:5],
            "seconds": outcome.seconds,
            "backend": outcome.backend,
            "workers": outcome.workers,
        }
    )
    write_json_atomic(out / "sweep.json", meta)
    files = [str(out / "results.csv")]
    if (out / "results.parquet").exists():
        files.append(str(out / "results.parquet"))
    if plot and grid.axis_names and results:
        try:
            files += [str(p) for p in plot_sweep(out, grid.axis_names[0])]
        except InvalidProblemError:
            pass  # a non-numeric first axis: `wpgd sweep plot --x` another one
    meta["files"] = files
    return meta
