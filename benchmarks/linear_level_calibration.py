"""How far recorded scalar runs had gone from linear attention toward their class optimum at the probe.

For every scalar-gated run stored with its held-out curve in ``docs/training_grid/results/`` (the
grid, edge and draw files listed in ``SOURCES``), prints the linear-attention optimum ``L_lin``,
the scalar class optimum ``L_cls``, the gating gain ``(L_lin − L_cls)/L_cls``, the periodic
held-out estimate nearest the probe (30% of the run's steps; plain 4096-prompt point estimates,
first attempt) and the share of the way ``(L_lin − risk)/(L_lin − L_cls)`` it had gone, sorted by
that share, with the run's final gap. This is the record the probe's linear-level test
(``wpgd.numerics.nn.train_loop.LINEAR_LEVEL_SHARE``) was calibrated on (docs/training.md, "Stuck at
linear attention"). Drawn specs are rebuilt from their draw seeds with ``train_grid``'s draws.

Usage::

    python benchmarks/linear_level_calibration.py
    python benchmarks/linear_level_calibration.py --min-gain 2     # only runs where gating gains > 2%
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import train_grid as tg  # noqa: E402

from wpgd.numerics.core.spec import load_spec  # noqa: E402
from wpgd.numerics.nn.evaluation import make_control  # noqa: E402

RESULTS = ROOT / "docs" / "training_grid" / "results"
SOURCES = [  # (file, how its specs are found: None = by spec-file name, else (draw kind, seed, count, d_max, k_max))
    ("edges_label_trap_test.json", None),
    ("grid_small_after_edges.json", None),
    ("draw_small_seed11.json", ("small", 11, 6, 6, 4)),
    ("draw_edges_seed1.json", ("edges", 1, 8, None, None)),
    ("draw_small_seed13_d16_k8.json", ("small", 13, 8, 16, 8)),
]


def _drawn(kind: str, seed: int, count: int, d_max, k_max) -> list:
    rng = np.random.default_rng(seed)
    return [(tg.draw_spec(rng, d_max, k_max) if kind == "small" else tg.draw_edge_spec(rng))[0] for _ in range(count)]


def _by_name(name: str):
    for path in [*(ROOT / "docs" / "training_grid").rglob("*.toml"), *(ROOT / "examples").glob("*.toml")]:
        if path.stem == name:
            return load_spec(path)
    raise SystemExit(f"no spec file named {name}.toml")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-gain", type=float, default=None,
                    help="only runs whose scalar optimum is more than this many percent below L_lin (default: all)")
    args = ap.parse_args(argv)
    rows = []
    for name, how in SOURCES:
        drawn = _drawn(*how) if how is not None else None
        for r in json.loads((RESULTS / name).read_text()):
            if r["model"] != "scalar" or not r.get("curve"):
                continue
            problem = drawn[r["index"]] if drawn is not None else _by_name(r["spec"])
            lin = make_control(problem).risk / problem.null_risk
            cls = r["optimum"]
            probe = int(round(0.3 * r["steps"]))
            points = [(c[0], c[2]) for c in r["curve"] if c[1] == 0]
            step, risk = min(points, key=lambda t: abs(t[0] - probe))
            gain = lin - cls
            share = (lin - risk) / gain if gain > 1e-9 else float("nan")
            rows.append((name, str(r["spec"])[:48], lin, cls, 100 * gain / cls, step, risk, share, 100 * r["gap"]))
    if args.min_gain is not None:
        rows = [r for r in rows if r[4] > args.min_gain]
    rows.sort(key=lambda r: (np.isnan(r[7]), r[7]))
    print("| file | spec | L_lin | L_cls | gain % | step | held-out | share of the way | final gap |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for f, spec, lin, cls, g, step, risk, share, gap in rows:
        print(f"| {f} | {spec} | {lin:.4f} | {cls:.4f} | {g:.1f} | {step} | {risk:.4f} | {share:.2f} | {gap:+.2f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
