"""Result files of a sweep: ``results.csv`` (rebuilt atomically as tasks finish), ``results.parquet``
(when pyarrow is importable), the grid copy, ``sweep.json``, and the plot of a results folder.

``results.csv`` has one row per finished task: a column per axis (its dotted name; list values
as JSON), then :data:`wpgd.numerics.experiments.sweep_tasks.ROW_FIELDS` of the sweep's kind.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import write_atomic

__all__ = ["write_results", "read_results", "plot_sweep"]


def write_results(out_dir, columns: list[str], rows: list[dict]) -> list[Path]:
    """Write ``results.csv`` (and ``results.parquet`` when pyarrow is importable) atomically.

    Returns:
        The paths written.
    """

    out = Path(out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    paths = [write_atomic(out / "results.csv", buf.getvalue().encode("utf-8"))]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return paths
    records = [{k: row.get(k) for k in columns} for row in rows]
    try:
        table = pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column mixing numbers and text: all text
        table = pa.Table.from_pylist(
            [{k: None if v is None else str(v) for k, v in r.items()} for r in records]
        )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    paths.append(write_atomic(out / "results.parquet", sink.getvalue().to_pybytes()))
    return paths


def read_results(out_dir) -> tuple[dict, list[dict]]:
    """``sweep.json`` and the rows of ``results.csv`` of a sweep folder.

    Raises:
        InvalidProblemError: not a sweep folder.
    """
    out = Path(out_dir)
    try:
        meta = json.loads((out / "sweep.json").read_text())
        with open(out / "results.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise InvalidProblemError(
            f"{str(out)!r} is not a sweep results folder (sweep.json, results.csv): {exc}"
        ) from None
    return meta, rows


def _num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _x_value(text: str):
    """An axis cell as a number: the number itself, or the sum of a JSON list (e.g. segment sizes → n)."""
    val = _num(text)
    if val is not None:
        return val
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return None
    if isinstance(parsed, list) and parsed and all(isinstance(v, (int, float)) for v in parsed):
        return float(sum(parsed))
    return None


def plot_sweep(out_dir, x: str, *, y: str = "normalized_risk") -> list[Path]:
    """Plot ``y`` against axis ``x``: one line per class / model (line style) and value of the other
    axes (colour).

    A list-valued axis (e.g. ``tasks.segments``) is plotted at the sum of its entries. Training
    sweeps average over seeds and draw the min–max band across seeds. Writes
    ``sweep_<x>.png`` and ``.pdf`` into the folder.

    Raises:
        InvalidProblemError: unknown axis, or an axis that is not numeric.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    out = Path(out_dir)
    meta, rows = read_results(out)
    axes = list(meta.get("axes", []))
    if x not in axes:
        raise InvalidProblemError(
            f"--x {x!r} is not an axis of this sweep (axes: {', '.join(axes) or 'none'})"
        )
    if not rows:
        raise InvalidProblemError("the sweep has no finished rows to plot")
    label_col = "class" if meta.get("kind") == "theory" else "model"
    others = [a for a in axes if a != x]
    series: dict = {}
    for row in rows:
        xv, yv = _x_value(row[x]), _num(row.get(y))
        if xv is None:
            raise InvalidProblemError(f"axis {x!r} has a non-numeric value {row[x][:40]!r}")
        if yv is None:
            continue
        name = (row[label_col], ", ".join(f"{a}={row[a]}" for a in others))
        series.setdefault(name, {}).setdefault(xv, []).append(yv)
    labels = list(dict.fromkeys(k[0] for k in series))
    groups = list(dict.fromkeys(k[1] for k in series))
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (label, group), pts in series.items():
        xs = sorted(pts)
        mean = [sum(pts[v]) / len(pts[v]) for v in xs]
        color = colors[groups.index(group) % len(colors)]
        ax.plot(
            xs,
            mean,
            marker="o",
            ms=3,
            color=color,
            ls=styles[labels.index(label) % len(styles)],
            label=", ".join(filter(None, (label, group))),
        )
        if any(len(pts[v]) > 1 for v in xs):
            ax.fill_between(xs, [min(pts[v]) for v in xs], [max(pts[v]) for v in xs], alpha=0.2, color=color)
    ax.set_xlabel(x + (" (sum)" if any(row[x].startswith("[") for row in rows) else ""))
    ax.set_ylabel(y.replace("_", " "))
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths = []
    stem = "sweep_" + "".join(c if c.isalnum() else "_" for c in x)
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150)
        paths.append(write_atomic(out / f"{stem}.{ext}", buf.getvalue()))
    plt.close(fig)
    return paths
