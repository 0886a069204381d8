"""``wpgd experiment``: Figure 1 (trained models vs theory over n), the multi-layer check, plots."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError

from ..flags import TRAIN_SEED, integer, real

HELP = "run the Figure-1 or multi-layer experiment, or render plots and the report from a results folder"
DESCRIPTION = """\
Subcommands:

  figure1     train every model family at every n of each panel and compare with the theory
              optima (normalised risk against n); writes panel_<x>.json, figure1.json, run
              folders under runs/, then renders figure1.png/.pdf and report.md; --spec FILE
              adds a panel of your own segment problem
  multilayer  train 1/2/3-layer models on one problem and compare, two-sided, with the L-step
              optimum of gated GD++ with label rescaling (wpgd.numerics.nn.gdpp_optimum;
              docs/multilayer.md), beside the one-layer optimum, gated GD++ without the
              rescaling and the label-only recursion (wpgd.numerics.nn.multistep)
  highdim     the paper's scale: linear attention and scalar GLA at d = 100, two equal
              segments, c = (0.2, 0.8), noise 0, n in {100, 200, 400, 1000}, trained vs theory
              with CIs and convergence status; writes highdim.json, highdim_config.json,
              runs/, highdim.png/.pdf and report.md (--device auto uses CUDA when present;
              a CPU run of the full grid takes hours: measure one n first)
  plot        re-render figures and report.md from the result files of a folder (no training)

Every subcommand takes --format png pdf svg (figure formats, default png pdf) and --json.
Progress bars go to stderr when it is a terminal; WPGD_PROGRESS=1 shows them in logs and
pipes too. Finished runs are reused when the command is repeated with the same settings (a run folder's
metrics.json is kept if its config matches), so an interrupted experiment resumes; the time guard
counts only the runs left to train. Ctrl-C exits 130 and SIGTERM 143, after saying what was kept:
a run training in this process is checkpointed at its current step, a run in a --jobs worker
process keeps its last periodic checkpoint (every 500 steps by default).

examples:
  wpgd experiment figure1 --panel all --out results/figure1
  wpgd experiment multilayer --out results/multilayer
  wpgd experiment highdim --n 100 --out results/highdim
  wpgd experiment figure1 --spec examples/two_segments.toml --panel none --n 10 20 40
  wpgd experiment plot results/figure1 --format pdf svg
"""


_PROGRESS = (
    "Progress bars go to stderr when it is a terminal; set WPGD_PROGRESS=1 to show them in logs\n"
    "and pipes too (--quiet or --json hides them)."
)

FIGURE1_DESCRIPTION = """\
Train every model family at every n of each panel (two-segment problem families, d = 10 by
default) and compare the held-out risk with the theory optima of each class. Writes
panel_<x>.json, figure1.json, figure1_config.json and run folders under runs/, then renders
figure1.<format> and report.md from those files (wpgd experiment plot re-renders them).
--spec FILE adds your own segment problem as a panel: its segment sizes are scaled to sum to
each n (wpgd curve --vary n shows the theory part instantly), d is the spec's dimension.
Finished runs are reused when the command is repeated with the same settings.
"""

MULTILAYER_DESCRIPTION = """\
Train 1-, 2- and 3-layer models (scalar GLA with delimiters by default) on one built-in problem
(panel a: Σ = I, two equal segments, c = (0.3, 0.9), d = 10, n = 20; or --panel s3: anisotropic
Σ, three segments) and compare each, two-sided, with the optimum of the L-step gated GD++ class
with label rescaling (label and feature writes and the delimiter token's gated rescaling of the
label channel, one delimiter gate and coefficient per boundary; wpgd.numerics.nn.gdpp_optimum,
with its 95% CI): gap_theory = trained / theory − 1, |gap_theory| ≤ 3%. Each row also keeps the
one-layer class optimum, the gated GD++ optimum without the rescaling (gap_gdpp) and the
label-only recursion's fit (wpgd.numerics.nn.multistep). Without --steps an L-layer run trains for the step budget derived
for L layers (wpgd.numerics.nn.multilayer_budget: L·1000 + 3·p_L·256/batch, p_L the L-step class's
parameters; each row reports steps and steps_rule). Writes multilayer.json, multilayer_config.json,
runs/, multilayer.<format> and report.md.
"""

HIGHDIM_DESCRIPTION = """\
The paper's scale: linear attention and scalar GLA at d = 100, two equal segments,
c = (0.2, 0.8), noise 0, n in {100, 200, 400, 1000}; trained vs theory with 95% CIs and a
convergence status per run. Writes highdim.json, highdim_config.json, runs/, highdim.<format>
and report.md. A CPU run of the full grid takes hours: measure one n first.
"""

PLOT_DESCRIPTION = """\
Re-render the figures and report.md of a results folder from its result files (panel_*.json,
multilayer.json, highdim.json) without training anything.
"""


def _format_arg(p) -> None:
    from wpgd.numerics.experiments.figstyle import FORMATS

    p.add_argument(
        "--format",
        nargs="+",
        default=["png", "pdf"],
        choices=FORMATS,
        metavar="FMT",
        help="figure format(s): png, pdf, svg (default: png pdf)",
    )


def _sub(sub, name: str, help_: str, description: str):
    import argparse

    return sub.add_parser(
        name,
        help=help_,
        description=description + "\n" + _PROGRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _train_args(p, device_default: str = "cpu", seed_default: int = 0, final_default: int = 100_000) -> None:
    g = p.add_argument_group("training (applies to every run)")
    g.add_argument(
        "--steps",
        type=integer(1, 10**9),
        default=None,
        help="optimiser steps per run (default: derived from the problem size, "
        "wpgd.numerics.nn.train_config.step_budget; recorded in each run's config.json)",
    )
    g.add_argument(
        "--batch-size", type=integer(1, 2**20), default=None, help="fresh prompts per step (default 256)"
    )
    g.add_argument(
        "--lr",
        type=real(0, 1e3, lo_open=True),
        default=None,
        help="peak learning rate (default: the 1/fan-in rule of the token width, 0.12/D, for every family)",
    )
    g.add_argument(
        "--final-prompts",
        type=integer(2, 10**9),
        default=None,
        help=f"held-out prompts of the final evaluation (default {final_default})",
    )
    g.add_argument(
        "--seed",
        type=TRAIN_SEED,
        default=None,
        help=f"initialisation seed of every run; data/eval/final seeds follow (default {seed_default})",
    )
    g.add_argument(
        "--jobs",
        type=integer(1, 256),
        default=None,
        help="training runs in parallel (default: 2 for figure1, 1 otherwise)",
    )
    g.add_argument(
        "--device",
        default=device_default,
        choices=("auto", "cpu", "cuda"),
        help=f"auto (CUDA when present), cpu or cuda (default {device_default})",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bars (default: shown on a terminal)")


def add_arguments(p) -> None:
    sub = p.add_subparsers(
        dest="experiment", metavar="EXPERIMENT", help="figure1, multilayer, highdim or plot"
    )
    sub.required = True
    f = _sub(sub, "figure1", "trained GLA risks vs n against the theory curves", FIGURE1_DESCRIPTION)
    f.add_argument(
        "--panel",
        default="all",
        choices=["a", "b", "c", "d", "all", "none"],
        help="built-in panel(s): a, b, c, d, all, or none (with --spec: only your panel) (default all)",
    )
    f.add_argument(
        "--spec",
        metavar="FILE",
        default=None,
        help="also train and plot a panel of your own segment spec (TOML) (default: none)",
    )
    f.add_argument(
        "--n",
        type=integer(2, 10**4),
        nargs="+",
        default=None,
        metavar="N",
        help="numbers of demonstrations (default 10 20 40 80)",
    )
    f.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="model families for every panel (default: each panel's own list: linear, scalar, "
        "scalar-nodelim; vector too in panels a and d)",
    )
    f.add_argument(
        "--out", metavar="DIR", default="results/figure1", help="results folder (default results/figure1)"
    )
    f.add_argument("--json", action="store_true", help="print figure1.json instead of the summary")
    _format_arg(f)
    _train_args(f)
    m = _sub(sub, "multilayer", "trained 1/2/3-layer GLA vs the WPGD theory", MULTILAYER_DESCRIPTION)
    m.add_argument("--panel", default="a", choices=["a", "b", "c", "d", "s3"],
                   help="problem family: a Figure-1 panel or s3 (anisotropic Σ, three segments) (default a)")
    m.add_argument("--d", type=integer(1, 4096), default=None, help="feature dimension (default 10)")
    m.add_argument("--n", type=integer(2, 10**4), default=None, help="demonstrations (default 20)")
    m.add_argument("--model", default=None, help="model family (default scalar)")
    m.add_argument(
        "--layers", type=integer(1, 64), nargs="+", default=None, help="layer counts (default 1 2 3)"
    )
    m.add_argument(
        "--out",
        metavar="DIR",
        default="results/multilayer",
        help="results folder (default results/multilayer)",
    )
    m.add_argument("--json", action="store_true", help="print multilayer.json instead of the summary")
    _format_arg(m)
    _train_args(m, final_default=250_000)
    h = _sub(
        sub,
        "highdim",
        "linear and scalar GLA at d = 100, n = 100..1000 against the theory",
        HIGHDIM_DESCRIPTION,
    )
    h.add_argument(
        "--n",
        type=integer(2, 10**6),
        nargs="+",
        default=None,
        metavar="N",
        help="numbers of demonstrations (default 100 200 400 1000)",
    )
    h.add_argument(
        "--models",
        nargs="+",
        default=None,
        choices=["linear", "scalar"],
        metavar="MODEL",
        help="model families (default linear scalar)",
    )
    h.add_argument("--d", type=integer(1, 4096), default=100, help="feature dimension (default 100)")
    h.add_argument(
        "--amp",
        choices=["off", "bf16"],
        default="off",
        help="bf16 autocast of the training forward pass (default off: not shown unbiased, "
        "docs/training-runs.md)",
    )
    h.add_argument("--json", action="store_true", help="print highdim.json instead of the table")
    h.add_argument(
        "--out", metavar="DIR", default="results/highdim", help="results folder (default results/highdim)"
    )
    _format_arg(h)
    _train_args(h, device_default="auto")
    pl = _sub(sub, "plot", "render figures and report.md from a results folder", PLOT_DESCRIPTION)
    pl.add_argument(
        "results", metavar="DIR", help="folder with panel_*.json, multilayer.json and/or highdim.json"
    )
    pl.add_argument("--json", action="store_true", help="print the written paths as a JSON list")
    _format_arg(pl)


def _overrides(args) -> dict:
    from ..io import resolve_device

    out = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "final_prompts": args.final_prompts,
        "seed": args.seed,
        "device": resolve_device(args.device),
    }
    for key in ("steps", "batch_size", "final_prompts"):
        if out[key] is not None and out[key] < 1:
            raise InvalidProblemError(f"--{key.replace('_', '-')} must be ≥ 1")
    if args.jobs is not None and args.jobs < 1:
        raise InvalidProblemError("--jobs must be ≥ 1")
    return {k: v for k, v in out.items() if v is not None}


def run(args) -> int:
    from wpgd.numerics.experiments.figstyle import check_formats

    from ..io import print_json

    formats = check_formats(args.format)
    if args.experiment == "plot":
        from wpgd.numerics.experiments.plotting import render_all

        root = Path(args.results)
        if not root.is_dir():
            raise InvalidProblemError(f"results folder {str(root)!r} does not exist")
        paths = render_all(root, formats)
        if args.json:
            print_json([str(p) for p in paths])
        else:
            for path in paths:
                print(path)
        return 0
    train = _overrides(args)
    runner = {"highdim": _highdim, "figure1": _figure1}.get(args.experiment, _multilayer)
    try:
        with _sigterm_interrupts():
            return runner(args, train, formats)
    except KeyboardInterrupt as exc:  # also the trainer's TrainingInterrupted (SIGINT or SIGTERM)
        return _interrupted(args, exc)


class _Terminated(KeyboardInterrupt):
    """SIGTERM in this process outside the trainer's own handler (worker processes train)."""

    def __init__(self, signum: int):
        super().__init__("terminated")
        self.signum = signum


@contextmanager
def _sigterm_interrupts():
    """SIGTERM stops the experiment as Ctrl-C does: a ``KeyboardInterrupt`` (with ``signum``) in this
    process, so the worker pool or Dask cluster is shut down, the finished runs' records are kept
    and the message is printed. Without it a SIGTERM while worker processes train (``--jobs`` > 1)
    ended the command at once, silently. While a run trains in this process the trainer's own
    handlers take over (a checkpoint at the current step) and put this one back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _interrupted(args, exc: KeyboardInterrupt) -> int:
    """Say what an interrupted experiment kept and how to resume; 143 for SIGTERM, else re-raise
    (the CLI's one line, exit 130)."""
    import signal
    import sys

    workers = (args.jobs or (2 if args.experiment == "figure1" else 1)) > 1
    where = (" (a run in a worker process: its last periodic checkpoint, every checkpoint_every = 500 steps "
             "by default)") if workers and not hasattr(exc, "checkpoint") else ""
    print(f"wpgd experiment: interrupted: finished runs keep their results and unfinished ones their "
          f"checkpoints{where} in {args.out or f'results/{args.experiment}'}; the same command resumes them",
          file=sys.stderr, flush=True)
    if getattr(exc, "signum", None) == signal.SIGTERM:
        print("wpgd experiment: error: terminated (SIGTERM)", file=sys.stderr)
        return 143
    raise exc


def _figure1(args, train: dict, formats) -> int:
    from dataclasses import replace

    from wpgd.numerics.experiments import experiments as ex
    from wpgd.numerics.experiments.plotting import render_all

    from ..io import print_json

    cfg = ex.Figure1Config()
    cfg = replace(cfg, train={**cfg.train, **train})
    panels = {"all": cfg.panels, "none": ()}.get(args.panel, (args.panel,))
    if args.spec is not None:
        from wpgd.numerics.core.spec import load_spec

        problem = load_spec(args.spec)
        panel = ex.spec_panel(problem, f"your spec: {Path(args.spec).name}")
        cfg = replace(cfg, d=problem.d, custom_panels=(panel,))  # vector key width: the family's, from the spec
        panels = panels + (panel.name,)
        if args.panel not in ("none",) and problem.d != ex.Figure1Config.d:
            raise InvalidProblemError(
                f"--spec has d = {problem.d} but the built-in panels use d = {ex.Figure1Config.d}; "
                "add --panel none to train only your panel"
            )
    if not panels:
        raise InvalidProblemError("--panel none needs --spec FILE (nothing to train)")
    cfg = replace(cfg, panels=panels)
    if args.n:
        if min(args.n) < 2:
            raise InvalidProblemError("--n values must be ≥ 2 (two segments)")
        ns = tuple(sorted(set(args.n)))
        cfg = replace(cfg, n_values=ns, theory_n=(ns[0], ns[-1], max(1, (ns[-1] - ns[0]) // 40)))
    if args.models:
        cfg = replace(cfg, models=tuple(args.models))
    if args.jobs:
        cfg = replace(cfg, jobs=args.jobs)
    _require_runs(cfg, ex, args.out, quiet=args.quiet or args.json)
    result = ex.run_figure1(cfg, args.out, progress=not (args.quiet or args.json))
    paths = render_all(args.out, formats)
    if args.json:
        print_json(result)
        return 0
    failed = [(p, c) for p, panel in result["panels"].items() for c in panel["checks"] if not c["passed"]]
    print(
        f"figure1: {sum(len(p['rows']) for p in result['panels'].values())} runs in "
        f"{result['seconds']:.0f} s; {len(failed)} check(s) failed"
    )
    for p, c in failed:
        print(f"  FAIL panel {p}, n = {c['n']}: {c['check']} ({c['detail']})")
    for path in paths:
        print(path)
    return 0


def _multilayer(args, train: dict, formats) -> int:
    from dataclasses import replace

    from wpgd.numerics.experiments import experiments as ex
    from wpgd.numerics.experiments.plotting import render_all

    from ..io import print_json

    cfg = ex.MultilayerConfig()
    cfg = replace(cfg, train={**cfg.train, **train})
    for key, val in (("panel", args.panel), ("d", args.d), ("n", args.n), ("model", args.model),
                     ("jobs", args.jobs)):
        if val is not None:
            cfg = replace(cfg, **{key: val})
    if args.layers:
        cfg = replace(cfg, layers=tuple(args.layers))
    _require_runs(cfg, ex, args.out, quiet=args.quiet or args.json)
    result = ex.run_multilayer(cfg, args.out, progress=not (args.quiet or args.json))
    paths = render_all(args.out, formats)
    if args.json:
        print_json(result)
        return 0
    failed = [c for c in result["checks"] if not c["passed"]]
    for r in result["rows"]:
        ref = "" if r["multistep_optimum"] is None else f", label-only recursion {r['multistep_optimum']:.4f}"
        th = "" if r.get("theory") is None else (f", {r['layers']}-step gated GD++ with label rescaling optimum "
                                                 f"{r['theory']:.4f} (gap {r['gap_theory']:+.2%})")
        if r.get("gdpp_optimum") is not None:
            th += f", without the rescaling {r['gdpp_optimum']:.4f} (gap {r['gap_gdpp']:+.2%})"
        print(f"{r['layers']} layer(s): trained {r['risk']:.4f} (1-layer optimum {r['one_layer_optimum']:.4f}{th}{ref})")
        if r.get("steps_rule"):
            print(f"  {r['steps_rule']}")
    print(f"multilayer: {len(result['rows'])} runs; {len(failed)} check(s) failed")
    for c in failed:
        print(f"  FAIL L = {c['n']}: {c['check']} ({c['detail']})")
    for path in paths:
        print(path)
    return 0


def _require_runs(cfg, ex, out, quiet: bool = False) -> None:
    """Refuse an experiment whose training runs together exceed the memory or time limits, before
    anything is written (wpgd.numerics.nn.step_timing.require_runs: the flop model, then a few timed
    steps of each run where the flop model refuses; device-aware). Runs already finished in ``out``
    with the same settings are reused, so only the others are counted."""
    from wpgd.numerics.nn.step_timing import require_runs

    jobs = ex.figure1_jobs(cfg, out)[0] if isinstance(cfg, ex.Figure1Config) else ex.multilayer_jobs(cfg, out)
    pending = ex.unfinished(jobs)
    log = None if quiet else (lambda msg: print(f"wpgd experiment: {msg}", file=sys.stderr, flush=True))
    if log is not None and len(pending) < len(jobs):
        log(f"{len(jobs) - len(pending)} of {len(jobs)} runs already finished in {out} (reused)")
    if pending:
        require_runs([ex.job_training(job) for job in pending], parallel=getattr(cfg, "jobs", 1) or 1, log=log)


def _require_highdim_runs(cfg, out, quiet: bool = False) -> None:
    """The highdim grid's unfinished runs against the limits, their time measured
    (wpgd.numerics.experiments.highdim.require_highdim)."""
    from wpgd.numerics.experiments.highdim import require_highdim

    require_highdim(cfg, log=None if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True)), out_dir=out)


def _highdim(args, train: dict, formats) -> int:
    from wpgd.numerics.experiments.highdim import HighdimConfig, run_highdim
    from wpgd.numerics.experiments.plotting import render_all

    from ..io import print_json

    if args.d < 1:
        raise InvalidProblemError("--d must be ≥ 1")
    device = train.pop("device")
    seed = train.get("seed", 0)
    train.update(seed=seed, data_seed=seed + 1, eval_seed=seed + 2, final_seed=seed + 3)  # as wpgd train
    cfg = HighdimConfig(d=args.d, train=train, device=device, amp=args.amp, jobs=args.jobs or 1)
    if args.n:
        if min(args.n) < 2:
            raise InvalidProblemError("--n values must be ≥ 2 (two segments)")
        cfg = HighdimConfig(**{**cfg.to_dict(), "n_values": tuple(sorted(set(args.n)))})
    if args.models:
        cfg = HighdimConfig(**{**cfg.to_dict(), "models": tuple(dict.fromkeys(args.models))})
    _require_highdim_runs(cfg, args.out, quiet=args.quiet or args.json)
    result = run_highdim(cfg, args.out, progress=not (args.quiet or args.json))
    paths = render_all(args.out, formats)
    bad = [r for r in result["rows"] if r["status"] != "converged"]
    if args.json:
        print_json(result)
        return 0
    from wpgd.numerics.experiments.plotting import highdim_table

    print(
        f"highdim: d = {result['d']}, device {result['device']}, {len(result['rows'])} runs in "
        f"{result['seconds']:.0f} s; {len(bad)} not converged"
    )
    print(highdim_table(result))
    for path in paths:
        print(path)
    return 0
