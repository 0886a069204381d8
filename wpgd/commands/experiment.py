"""``wpgd experiment``: Figure 1 (trained models vs theory over n), the multi-layer check, plots."""

from __future__ import annotations

from pathlib import Path

from numerics.errors import InvalidProblemError

from ..flags import TRAIN_SEED, integer, real

HELP = "run the Figure-1 or multi-layer experiment, or render plots and the report from a results folder"
DESCRIPTION = """\
Subcommands:

  figure1     train every model family at every n of each panel and compare with the theory
              optima (normalised risk against n); writes panel_<x>.json, figure1.json, run
              folders under runs/, then renders figure1.png/.pdf and report.md
  multilayer  train 1/2/3-layer models on one problem and compare with the one-layer optimum
              and the fitted L-step WPGD reference (numerics.multistep.multistep_optimum)
  highdim     the paper's scale: linear attention and scalar GLA at d = 100, two equal
              segments, c = (0.2, 0.8), noise 0, n in {100, 200, 400, 1000}, trained vs theory
              with CIs and convergence status; writes highdim.json, highdim_config.json,
              runs/, highdim.png/.pdf and report.md (--device auto uses CUDA when present;
              a CPU run of the full grid takes hours: measure one n first)
  plot        re-render figures and report.md from the result files of a folder

Finished runs are reused when the command is repeated with the same settings (a run folder's
metrics.json is kept if its config matches), so an interrupted experiment resumes.

examples:
  wpgd experiment figure1 --panel all --out results/figure1
  wpgd experiment multilayer --out results/multilayer
  wpgd experiment highdim --n 100 --out results/highdim
  wpgd experiment plot results/figure1
"""


def _train_args(p, device_default: str = "cpu", seed_default=None) -> None:
    g = p.add_argument_group("training (applies to every run)")
    g.add_argument("--steps", type=integer(1, 10**9), default=None, help="optimiser steps per run (default 1000; vector models 6000)")
    g.add_argument("--batch-size", type=integer(1, 2**20), default=None, help="prompts per step")
    g.add_argument("--lr", type=real(0, 1e3, lo_open=True), default=None, help="peak learning rate")
    g.add_argument("--final-prompts", type=integer(2, 10**9), default=None, help="held-out prompts of the final evaluation")
    g.add_argument("--seed", type=TRAIN_SEED, default=seed_default,
                   help=f"initialisation seed of every run (data/eval seeds follow the family defaults; default "
                        f"{'the config default' if seed_default is None else seed_default})")
    g.add_argument("--jobs", type=integer(1, 256), default=None, help="training runs in parallel (default: 2 for figure1, 1 for multilayer)")
    g.add_argument("--device", default=device_default, help=f"auto, cpu or cuda (default {device_default})")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", help="figure1, multilayer or plot")
    sub.required = True
    f = sub.add_parser("figure1", help="trained GLA risks vs n against the theory curves")
    f.add_argument("--panel", default="all", choices=["a", "b", "c", "d", "all"], help="panel (default all)")
    f.add_argument("--n", type=integer(2, 10**4), nargs="+", default=None, metavar="N", help="numbers of demonstrations")
    f.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="model families (default linear scalar scalar-nodelim vector)")
    f.add_argument("--out", metavar="DIR", default="results/figure1", help="results folder")
    _train_args(f)
    m = sub.add_parser("multilayer", help="trained 1/2/3-layer GLA vs the WPGD theory")
    m.add_argument("--panel", default="a", choices=["a", "b", "c", "d"], help="problem family (default a)")
    m.add_argument("--n", type=integer(2, 10**4), default=None, help="demonstrations (default 20)")
    m.add_argument("--model", default=None, help="model family (default scalar)")
    m.add_argument("--layers", type=integer(1, 64), nargs="+", default=None, help="layer counts (default 1 2 3)")
    m.add_argument("--out", metavar="DIR", default="results/multilayer", help="results folder")
    _train_args(m)
    h = sub.add_parser("highdim", help="linear and scalar GLA at d = 100, n = 100..1000 against the theory")
    h.add_argument("--n", type=integer(2, 10**6), nargs="+", default=None, metavar="N",
                   help="numbers of demonstrations (default 100 200 400 1000)")
    h.add_argument("--models", nargs="+", default=None, choices=["linear", "scalar"], metavar="MODEL",
                   help="model families (default linear scalar)")
    h.add_argument("--d", type=integer(1, 4096), default=100, help="feature dimension (default 100)")
    h.add_argument("--amp", choices=["off", "bf16"], default="off",
                   help="bf16 autocast of the training forward pass (default off: not shown unbiased, "
                        "docs/training-runs.md)")
    h.add_argument("--json", action="store_true", help="print highdim.json instead of the table")
    h.add_argument("--out", metavar="DIR", default="results/highdim", help="results folder (default results/highdim)")
    _train_args(h, device_default="auto", seed_default=0)
    pl = sub.add_parser("plot", help="render figures and report.md from a results folder")
    pl.add_argument("results", metavar="DIR", help="folder with panel_*.json and/or multilayer.json")


def _overrides(args) -> dict:
    from ..io import resolve_device

    out = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
           "final_prompts": args.final_prompts, "seed": args.seed, "device": resolve_device(args.device)}
    for key in ("steps", "batch_size", "final_prompts"):
        if out[key] is not None and out[key] < 1:
            raise InvalidProblemError(f"--{key.replace('_', '-')} must be ≥ 1")
    if args.jobs is not None and args.jobs < 1:
        raise InvalidProblemError("--jobs must be ≥ 1")
    return {k: v for k, v in out.items() if v is not None}


def run(args) -> int:
    from dataclasses import replace

    from numerics import experiments as ex
    from numerics.plotting import render_all

    if args.experiment == "plot":
        root = Path(args.results)
        if not root.is_dir():
            raise InvalidProblemError(f"results folder {str(root)!r} does not exist")
        for path in render_all(root):
            print(path)
        return 0
    train = _overrides(args)
    if args.experiment == "highdim":
        return _highdim(args, train)
    if args.experiment == "figure1":
        cfg = ex.Figure1Config()
        cfg = replace(cfg, train={**cfg.train, **train})
        if args.panel != "all":
            cfg = replace(cfg, panels=(args.panel,))
        if args.n:
            if min(args.n) < 2:
                raise InvalidProblemError("--n values must be ≥ 2 (two segments)")
            cfg = replace(cfg, n_values=tuple(sorted(set(args.n))))
        if args.models:
            cfg = replace(cfg, models=tuple(args.models))
        if args.jobs:
            cfg = replace(cfg, jobs=args.jobs)
        _require_runs(cfg, ex)
        result = ex.run_figure1(cfg, args.out, progress=not args.quiet)
        paths = render_all(args.out)
        failed = [(p, c) for p, panel in result["panels"].items() for c in panel["checks"] if not c["passed"]]
        print(f"figure1: {sum(len(p['rows']) for p in result['panels'].values())} runs in "
              f"{result['seconds']:.0f} s; {len(failed)} check(s) failed")
        for p, c in failed:
            print(f"  FAIL panel {p}, n = {c['n']}: {c['check']} ({c['detail']})")
    else:
        cfg = ex.MultilayerConfig()
        cfg = replace(cfg, train={**cfg.train, **train})
        for key, val in (("n", args.n), ("model", args.model), ("jobs", args.jobs)):
            if val is not None:
                cfg = replace(cfg, **{key: val})
        if args.layers:
            cfg = replace(cfg, layers=tuple(args.layers))
        _require_runs(cfg, ex)
        result = ex.run_multilayer(cfg, args.out, progress=not args.quiet)
        paths = render_all(args.out)
        failed = [c for c in result["checks"] if not c["passed"]]
        for r in result["rows"]:
            ref = "" if r["multistep_optimum"] is None else f", {r['layers']}-step WPGD reference {r['multistep_optimum']:.4f}"
            print(f"{r['layers']} layer(s): trained {r['risk']:.4f} (1-layer optimum {r['one_layer_optimum']:.4f}{ref})")
        print(f"multilayer: {len(result['rows'])} runs; {len(failed)} check(s) failed")
        for c in failed:
            print(f"  FAIL L = {c['n']}: {c['check']} ({c['detail']})")
    for path in paths:
        print(path)
    return 0


def _require_runs(cfg, ex) -> None:
    """Refuse an experiment whose training runs together exceed the memory or time limits
    (numerics.limits.require_trainings, device-aware), before anything is written."""
    from numerics.limits import require_trainings
    from numerics.training import TrainConfig

    runs = []
    if isinstance(cfg, ex.Figure1Config):
        models = cfg.models or ()
        if any(p not in ex.PANELS for p in cfg.panels) or any(m not in ex.MODEL_KINDS for m in models):
            return  # run_figure1 names the unknown panel or model
        for p in cfg.panels:
            for n in cfg.n_values:
                problem = ex.PANELS[p].problem(n, cfg.d)
                runs += [(problem, TrainConfig(**cfg.run_overrides(m)).resolved(problem))
                         for m in (models or ex.PANELS[p].models)]
    else:
        if cfg.panel not in ex.PANELS:
            return  # run_multilayer names the unknown panel
        problem = ex.PANELS[cfg.panel].problem(cfg.n, cfg.d)
        for L in cfg.layers:
            tc = TrainConfig.for_model(cfg.model, **{**cfg.train, "layers": int(L), "progress": False})
            runs.append((problem, tc.resolved(problem)))
    require_trainings(runs, parallel=getattr(cfg, "jobs", 1) or 1)


def _require_highdim_runs(cfg) -> None:
    """The highdim runs (as numerics.highdim.run_highdim builds them) against the limits."""
    from numerics.highdim import HIGHDIM_PANEL, eval_batch_for
    from numerics.limits import require_trainings
    from numerics.training import TrainConfig

    if not cfg.n_values or min(cfg.n_values) < 2 or set(cfg.models) - {"linear", "scalar"}:
        return  # run_highdim says what is wrong
    runs = []
    for n in cfg.n_values:
        problem = HIGHDIM_PANEL.problem(n, cfg.d)
        for m in cfg.models:
            over = {"eval_batch": eval_batch_for(cfg.device, n, cfg.d), **cfg.train, "device": cfg.device,
                    "progress": False}
            runs.append((problem, TrainConfig.for_model(m, **over).resolved(problem)))
    require_trainings(runs, parallel=cfg.jobs)


def _highdim(args, train: dict) -> int:
    from numerics.highdim import HighdimConfig, run_highdim
    from numerics.plotting import render_all

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
    _require_highdim_runs(cfg)
    result = run_highdim(cfg, args.out, progress=not (args.quiet or args.json))
    paths = render_all(args.out)
    bad = [r for r in result["rows"] if r["status"] != "converged"]
    if args.json:
        print_json(result)
        return 0
    from numerics.plotting import highdim_table

    print(f"highdim: d = {result['d']}, device {result['device']}, {len(result['rows'])} runs in "
          f"{result['seconds']:.0f} s; {len(bad)} not converged")
    print(highdim_table(result))
    for path in paths:
        print(path)
    return 0
