"""``wpgd atlas``: what each published gated architecture can reach on a spec, in theory and trained."""

from __future__ import annotations

import re
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES, ATLAS_CONTEXTS

from ..flags import TRAIN_SEED, integer, real
from ..io import print_json

HELP = "each published gated architecture (RetNet, Mamba2, GLA, RWKV-6, mLSTM, DeltaNet, ...): class optimum and trained risk"
DESCRIPTION = """\
The architecture atlas of a problem spec: for each published gated architecture, the optimal
normalised risk of the set of token weights it realises under the paper's one-layer
construction (docs/atlas/), its gap to unconstrained WPGD and to linear attention, and
(without --theory-only) the normalised risk of a trained one-layer model of that architecture
with its 95% CI, its gap to the class optimum (gap = trained / optimum − 1) and a verdict:

  landed        |gap| ≤ the tolerance (default 3%)
  above class   gap > tolerance: the trained model did not reach its class optimum
  below class   gap < −tolerance: it beat the optimum of the class the theory assigns it
                (a finding: it computes something outside that class)
  trained only  DeltaNet and Gated DeltaNet (delta-rule updates) have no WPGD form

Risks are normalised by r_q tr Σ + σ² (1 = predicting zero).

--out DIR holds atlas.json (the result), atlas_config.json (settings and problem), atlas.txt
(the table), atlas.<format> (the figure) and atlas_trained.json (finished training rows), written
as one set after the theory rows and after every trained row. Rerunning the same command reuses
the finished rows (nothing is retrained); a run with other settings trains its own rows.
`wpgd atlas plot DIR` redraws the figure from atlas.json.

exit status: 0 every trained row landed (or --theory-only, or --allow-gap), 3 a trained row did
not land (a WARNING line names it), 2 bad input, 130 interrupted (SIGINT), 143 terminated
(SIGTERM); an interrupted run keeps its finished rows.

examples:
  wpgd atlas --spec examples/two_segments.toml --theory-only
  wpgd atlas --spec examples/two_segments.toml --out results/atlas/two_segments
  wpgd atlas --spec examples/two_segments.toml --context onehot --json
  wpgd atlas plot results/atlas/two_segments --format png pdf
"""

TRAINING_FLAGS = ("steps", "seed", "device", "eval_prompts", "allow_gap", "tolerance")


def add_arguments(p) -> None:
    from wpgd.numerics.experiments.figstyle import FORMATS

    p.add_argument("action", nargs="*", metavar="plot DIR",
                   help="`plot DIR`: redraw the figure (and table) of an atlas folder from its atlas.json, "
                        "nothing computed (default: compute an atlas of --spec)")
    p.add_argument("--spec", metavar="FILE", help="problem spec (TOML), see README (required unless `plot DIR`)")
    p.add_argument("--theory-only", action="store_true",
                   help="only the class optima, no training (seconds; default: also train every architecture)")
    p.add_argument("--context", default="none", choices=ATLAS_CONTEXTS,
                   help="prompt format: none = the paper's (demonstrations carry no segment tag; delimiter "
                        "tokens carry boundary codes), onehot = every demonstration also carries its segment "
                        "one-hot (default none)")
    p.add_argument("--architectures", nargs="+", metavar="NAME", default=None, choices=ARCHITECTURE_NAMES,
                   help=f"only these rows, of: {' '.join(ARCHITECTURE_NAMES)} (default: all, in that order)")
    p.add_argument("--heads", type=integer(1, 64), default=None,
                   help="heads of the theory rows (sharing one P, summed read-out; docs/theory.md §8.3); only with "
                        "--theory-only, the trained models are one-head layers (default 1)")
    p.add_argument("--steps", type=integer(1, 10**9), default=None,
                   help="optimiser steps of every training run (default: the trainer's budget rule, recorded "
                        "per row as budget_note)")
    p.add_argument("--seed", type=TRAIN_SEED, default=None, help="training seed of every run (default 0)")
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                   help="auto (CUDA when present), cpu or cuda (default auto)")
    p.add_argument("--eval-prompts", type=integer(2, 10**9), default=None,
                   help="fresh prompts of each trained model's final evaluation (default: the trainer's)")
    p.add_argument("--tolerance", type=real(0, 1, lo_open=True), default=None,
                   help="two-sided landing tolerance on trained / optimum − 1 (default 0.03)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="results folder, written as one set (default results/atlas/<spec name>-<context>)")
    p.add_argument("--format", nargs="+", default=["png"], choices=FORMATS, metavar="FMT",
                   help="figure format(s): png, pdf, svg (default png)")
    p.add_argument("--json", action="store_true", help="print atlas.json instead of the table")
    p.add_argument("--allow-gap", action="store_true",
                   help="exit 0 even when a trained row did not land (the WARNING and verdicts remain)")


def _plot(args) -> int:
    from wpgd.numerics.experiments.atlas import replot

    if len(args.action) != 2:
        raise InvalidProblemError("usage: wpgd atlas plot DIR (one results folder)")
    given = [f"--{k.replace('_', '-')}" for k in ("spec", "architectures", "out", "heads", *TRAINING_FLAGS)
             if getattr(args, k) not in (None, False)] + (["--theory-only"] if args.theory_only else [])
    if given:
        raise InvalidProblemError(f"wpgd atlas plot redraws from the folder's atlas.json: {', '.join(given)} "
                                  "does not apply")
    folder = Path(args.action[1])
    if not folder.is_dir():
        raise InvalidProblemError(f"results folder {str(folder)!r} does not exist")
    names = replot(folder, args.format)
    if args.json:
        print_json([str(folder / n) for n in names])
    else:
        for n in names:
            print(folder / n)
    return 0


def _require_runs(problem, config, names) -> None:
    """Refuse, before anything is trained, training runs that together exceed the memory or time
    limits (wpgd.numerics.core.limits.require_trainings; the estimate is the trainer's, made for a
    GLA layer of the same widths and steps: an approximation for the other recurrences)."""
    from wpgd.numerics.core.limits import require_trainings
    from wpgd.numerics.nn.arch import arch_train_config

    require_trainings([(problem, arch_train_config(problem, n, steps=config.steps, seed=config.seed,
                                                   device=config.device, context=config.context,
                                                   eval_prompts=config.eval_prompts)) for n in names])


def run(args) -> int:
    import sys

    from wpgd.numerics.core.spec import load_spec
    from wpgd.numerics.experiments.atlas import (
        CONFIG_FILE,
        RESULT_FILE,
        TABLE_FILE,
        TRAINED_FILE,
        AtlasConfig,
        run_atlas,
    )
    from wpgd.numerics.experiments.atlas_plot import atlas_table
    from wpgd.numerics.experiments.figstyle import check_formats

    if args.action:
        if args.action[0] != "plot":
            raise InvalidProblemError(f"unknown action {args.action[0]!r}: the only one is `plot DIR` "
                                      "(an atlas is computed with --spec FILE)")
        return _plot(args)
    if args.spec is None:
        raise InvalidProblemError("--spec FILE is required (or `wpgd atlas plot DIR` to redraw a figure)")
    if args.theory_only:
        given = [f"--{k.replace('_', '-')}" for k in TRAINING_FLAGS if getattr(args, k) not in (None, False)]
        if given:
            raise InvalidProblemError(f"{', '.join(given)} configure(s) the training runs: drop "
                                      f"{'it' if len(given) == 1 else 'them'} or --theory-only")
    formats = check_formats(args.format)
    problem = load_spec(args.spec)
    device = "cpu"
    if not args.theory_only:
        from ..io import resolve_device

        device = resolve_device(args.device or "auto")
        import wpgd.numerics.nn.arch  # noqa: F401  fails now, with the extra to install, if torch is missing
    config = AtlasConfig(context=args.context, theory_only=args.theory_only,
                         architectures=tuple(args.architectures or ()), steps=args.steps,
                         seed=0 if args.seed is None else args.seed, device=device, eval_prompts=args.eval_prompts,
                         tolerance=0.03 if args.tolerance is None else args.tolerance,
                         heads=1 if args.heads is None else args.heads)
    names = config.names()  # bad names or settings: refused before anything is computed
    if not args.theory_only:
        _require_runs(problem, config, names)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.spec).stem)
    out = Path(args.out) if args.out else Path("results") / "atlas" / f"{stem}-{args.context}"

    def log(msg: str) -> None:
        print(f"wpgd atlas: {msg}", file=sys.stderr, flush=True)

    try:
        result = run_atlas(problem, config, out, spec=str(args.spec), formats=formats, progress=not args.json,
                           log=log)
    except KeyboardInterrupt as exc:  # also the trainer's TrainingInterrupted (SIGINT or SIGTERM)
        import signal

        if (out / RESULT_FILE).is_file():
            log(f"interrupted: the finished rows are kept in {out}; the same command resumes with the rest")
        if getattr(exc, "signum", None) == signal.SIGTERM:
            print("wpgd atlas: error: terminated (SIGTERM)", file=sys.stderr)
            return 143
        raise
    bad = result["not_landed"]
    code = 3 if bad and not args.allow_gap else 0
    warning = None
    if bad:
        what = ", ".join(f"{n} ({result['rows'][n]['trained']['verdict']}, "
                         f"{result['rows'][n]['trained']['gap_theory']:+.2%})" for n in bad)
        warning = (f"WARNING: {len(bad)} trained row(s) did not land within ±{config.tolerance:.0%} of their class "
                   f"optimum: {what}. Above class: try more --steps or another --seed; below class is a finding "
                   f"(docs/atlas/index.md) (exit status 3; --allow-gap keeps 0)")
    if args.json:
        print_json(result)
        if warning:
            print(warning, file=sys.stderr)
        return code
    heads = "" if config.heads == 1 else f", {config.heads} heads"
    print(f"normalised risk (1 = predicting zero); d = {problem.d}, n = {problem.n}, context {args.context}{heads}")
    print(atlas_table(result))
    files = [RESULT_FILE, CONFIG_FILE, TABLE_FILE, TRAINED_FILE] + [f"atlas.{f}" for f in formats]
    print(f"wrote {out}: {', '.join(files)}")
    if warning:
        print(warning)
    return code
