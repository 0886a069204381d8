"""``wpgd sweep``: run a grid of theory solves or training runs (locally or on a Dask cluster); plot it."""

from __future__ import annotations

from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError

from ..flags import integer

HELP = "run a grid (Cartesian product of spec values) of theory optima or training runs; plot the results"
DESCRIPTION = """\
usage forms:
  wpgd sweep GRID.toml --out DIR [--scheduler local|ADDRESS] [--workers N] [--json]
  wpgd sweep plot DIR --x AXIS [--y COLUMN]

The grid file names a base problem spec and the axes to vary (docs/sweeps.md):

  [sweep]
  kind = "theory"                 # or "train" (models = [...], seeds = [...], layers = [...])
  spec = "base.toml"              # relative to the grid file
  classes = ["linear", "scalar", "unconstrained"]
  [axes]                          # dotted spec keys -> values; the grid is their product
  "tasks.segments" = [[10, 10], [20, 20]]
  "noise.variance" = [0.1, 0.5]

DIR gets results.csv (one row per point x class or model x seed; a column per axis),
results.parquet when pyarrow is installed, sweep.json, a copy of the grid and base spec,
the per-task records (points/, runs/) and a plot against the first axis.

Every task is cached by a hash of its full configuration: rerunning skips finished tasks,
an interrupted sweep keeps every finished task, and a task whose worker died runs again
without losing or duplicating rows. --scheduler local (default) runs small theory grids in
this process and larger ones on a Dask LocalCluster of --workers processes (a standard
process pool when Dask is not installed); an address such as tcp://host:8786 submits to an
existing Dask cluster (pip install "gating-is-weighting[distributed]").

examples:
  wpgd sweep examples/sweeps/theory_noise.toml --out results/sweep-noise
  wpgd sweep plot results/sweep-noise --x noise.variance
  wpgd sweep grid.toml --out /shared/sweep --scheduler tcp://head:8786 --device cuda --gpu-resource
"""


def add_arguments(p) -> None:
    p.add_argument(
        "grid", metavar="GRID.toml", help="grid file, or the word plot followed by a results folder"
    )
    p.add_argument(
        "folder", nargs="?", default=None, metavar="DIR", help="(plot only) the sweep's results folder"
    )
    p.add_argument("--out", metavar="DIR", default=None, help="results folder (required to run a grid)")
    p.add_argument(
        "--scheduler",
        default="local",
        metavar="local|ADDRESS",
        help="local (default: this machine) or a Dask scheduler address such as tcp://host:8786",
    )
    p.add_argument(
        "--workers",
        type=integer(1, 1024),
        default=None,
        help="local worker processes (default: the number of CPUs, at most 8)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device of training runs: auto, cpu or cuda (default cpu; auto is resolved on this "
        "machine, so on a GPU cluster name cuda)",
    )
    p.add_argument(
        "--gpu-resource",
        action="store_true",
        help="training jobs request the Dask worker resource GPU=1 (start GPU workers with "
        "--resources GPU=1); theory jobs run anywhere (default off)",
    )
    p.add_argument("--x", metavar="AXIS", default=None, help="(plot) the axis on the horizontal axis")
    p.add_argument(
        "--y",
        metavar="COLUMN",
        default="normalized_risk",
        help="(plot) the column plotted (default normalized_risk)",
    )
    p.add_argument("--json", action="store_true", help="print sweep.json (with the files written) as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..io import print_json

    if args.grid == "plot" and args.folder is not None:
        return _plot(args)
    if args.folder is not None:
        raise InvalidProblemError(f"unexpected argument {args.folder[:40]!r} (did you mean --out DIR?)")
    if args.out is None:
        raise InvalidProblemError("--out DIR is required (the results folder)")
    if args.x is not None:
        raise InvalidProblemError("--x applies to wpgd sweep plot DIR --x AXIS")
    from wpgd.numerics.experiments.sweep import DISTRIBUTED_HINT, dask_available
    from wpgd.numerics.experiments.sweep_run import run_sweep

    if args.scheduler != "local" and not dask_available():
        raise InvalidProblemError(
            f"--scheduler {args.scheduler[:80]} needs Dask, which is not installed: {DISTRIBUTED_HINT}"
        )
    if args.gpu_resource and args.scheduler == "local":
        raise InvalidProblemError("--gpu-resource applies to a Dask cluster (--scheduler ADDRESS)")
    device = args.device
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise InvalidProblemError(f"--device must be auto, cpu or cuda, got {device[:40]!r}")
    if device == "auto":
        from ..io import resolve_device

        device = resolve_device(device)
    meta = run_sweep(
        args.grid,
        args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not (args.quiet or args.json),
        device=device,
        gpu_resource=args.gpu_resource,
    )
    if args.json:
        print_json(meta)
    else:
        print(
            f"sweep: {meta['tasks']} task(s): {meta['computed']} computed, {meta['cached']} cached, "
            f"{meta['failed']} failed in {meta['seconds']:.1f} s ({meta['backend']}"
            + (f", {meta['workers']} workers" if meta["backend"] != "inprocess" else "")
            + ")"
        )
        for msg in meta["errors"]:
            print(f"  FAILED: {msg}")
        for path in meta["files"]:
            print(path)
    return 0 if not meta["failed"] else 1


def _plot(args) -> int:
    from wpgd.numerics.experiments.sweep_output import plot_sweep

    from ..io import print_json

    if args.x is None:
        raise InvalidProblemError("wpgd sweep plot DIR needs --x AXIS")
    root = Path(args.folder)
    if not root.is_dir():
        raise InvalidProblemError(f"results folder {str(root)!r} does not exist")
    paths = [str(p) for p in plot_sweep(root, args.x, y=args.y)]
    if args.json:
        print_json({"files": paths})
    else:
        for path in paths:
            print(path)
    return 0
