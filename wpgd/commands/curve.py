"""``wpgd curve``: theory risk of every weight class against one varied spec parameter."""

from __future__ import annotations

from pathlib import Path

from wpgd.numerics.core import vocabulary as _vocabulary
from wpgd.numerics.core.errors import InvalidProblemError

from ..flags import integer, real
from ..io import print_json, write_output_set

HELP = "optimal risk of every weight class against a varied spec parameter (theory only, no training)"
DESCRIPTION = """\
The first figure for your own setting: the optimal risk of linear attention, fixed decay,
scalar gating (with delimiters), vector gating and unconstrained WPGD, each from its closed
form (wpgd.numerics.core.classes.class_optimum), at every value of one parameter of the spec. Nothing
is trained or sampled: a few dozen points take about a second. Risks are normalised by
r_q tr Σ + σ² (1 = predicting zero; the raw risks are in the JSON).

Parameters (--vary):
  n                    prompt length: the segment sizes are scaled to sum to n (largest
                       remainder, each ≥ 1); a rounded split is marked "(rounded)" and makes
                       a small sawtooth
  noise                label-noise variance σ²
  query_variance       query task variance r_q
  toeplitz             ρ of Σ_ij = ρ^|i−j| (the spec's Σ must be identity or Toeplitz)
  dim                  feature dimension d (identity or Toeplitz Σ, ρ kept)
  query_correlation.K  c_K, segment K's correlation with the query (K from 0, farthest first)
  correlation.I.J      C_IJ = C_JI, correlation between segment tasks I and J
  segment.K            size of segment K alone
Dense specs ([tasks] matrix) can vary noise, toeplitz and dim only.

--out DIR writes curve.json (the curve), curve_config.json (the command's settings and the
base problem), curve.txt (the table) and curve.<format> as one set (all or nothing).

examples:
  wpgd curve --spec examples/two_segments.toml --vary n --values 10 20 40 80 160
  wpgd curve --spec examples/two_segments.toml --vary noise --range 0 2 11 --out results/noise
  wpgd curve --spec examples/two_segments.toml --vary query_correlation.0 --range 0 0.6 13 --json
"""

FORMATS = ("png", "pdf", "svg")
CLASSES = _vocabulary.CLASSES
"""The weight classes (wpgd.numerics.core.vocabulary imports nothing, so building the parser imports no SciPy)."""


def add_arguments(p) -> None:
    p.add_argument("--spec", required=True, metavar="FILE", help="problem spec (TOML), see README")
    p.add_argument(
        "--vary",
        required=True,
        metavar="PARAM",
        help="parameter to vary: n, noise, query_variance, toeplitz, dim, query_correlation.K, "
        "correlation.I.J or segment.K (see above)",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--values", type=real(), nargs="+", metavar="V", help="the values (each once; sorted)")
    g.add_argument(
        "--range",
        type=real(),
        nargs=3,
        metavar=("FROM", "TO", "COUNT"),
        help="COUNT evenly spaced values from FROM to TO (rounded to integers for n, dim, segment.K)",
    )
    p.add_argument(
        "--classes",
        nargs="+",
        default=list(CLASSES),
        choices=CLASSES,
        metavar="CLASS",
        help=f"weight classes (default: all: {' '.join(CLASSES)})",
    )
    p.add_argument(
        "--key-width",
        type=integer(1, 2**16),
        metavar="M",
        help="key width of the vector class (default 2d for two or more segments: reaches the optimum)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write curve.json, curve_config.json, curve.txt and the figure "
        "into DIR as one set (default: nothing written)",
    )
    p.add_argument(
        "--format",
        nargs="+",
        default=["png"],
        choices=FORMATS,
        metavar="FMT",
        help="figure format(s) written with --out: png, pdf, svg (default png)",
    )
    p.add_argument("--json", action="store_true", help="print curve.json instead of the table")


def _values(args) -> list:
    import numpy as np

    if args.values is not None:
        return list(args.values)
    lo, hi, count = args.range
    if count != int(count) or not 1 <= count <= 1000:
        raise InvalidProblemError(f"--range COUNT must be an integer from 1 to 1000, got {count:g}")
    vals = np.linspace(lo, hi, int(count))
    if args.vary.split(".")[0] in ("n", "dim", "segment"):
        vals = sorted(set(int(round(v)) for v in vals))
    return [float(v) for v in vals]


def run(args) -> int:
    from wpgd.numerics.core.curve import theory_curve
    from wpgd.numerics.core.spec import load_spec
    from wpgd.numerics.experiments.curve_plot import curve_figure
    from wpgd.numerics.experiments.figstyle import check_formats, figure_bytes, style

    problem = load_spec(args.spec)
    formats = check_formats(args.format)
    if args.key_width is not None and "vector" not in args.classes:
        raise InvalidProblemError("--key-width goes with the vector class")
    curve = theory_curve(problem, args.vary, _values(args), args.classes, key_width=args.key_width)
    out = curve.to_dict()
    if args.out:
        config = {
            "command": "curve",
            "spec": str(args.spec),
            "vary": args.vary,
            "values": curve.values,
            "classes": list(curve.classes),
            "key_width": args.key_width,
            "formats": list(formats),
            "base_problem": curve.base,
        }
        with style():
            fig = curve_figure(out, title=f"{Path(args.spec).name}: optimum of each class")
            raw = {f"curve.{fmt}": figure_bytes(fig, fmt) for fmt in formats}
        from wpgd.numerics.experiments.figstyle import pyplot

        pyplot().close(fig)
        raw["curve.txt"] = (curve.table() + "\n").encode("utf-8")
        write_output_set(Path(args.out), jsons={"curve.json": out, "curve_config.json": config}, raw=raw)
    if args.json:
        print_json(out)
        return 0
    print(f"normalised optimal risk (1 = predicting zero), varying {args.vary}")
    print(curve.table())
    for note in curve.notes:
        print(f"note: {note}")
    if args.out:
        print(
            f"wrote {args.out}: curve.json, curve_config.json, curve.txt, "
            + ", ".join(f"curve.{f}" for f in formats)
        )
    return 0
