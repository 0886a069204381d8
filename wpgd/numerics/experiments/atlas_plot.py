"""The table and the figure of an architecture atlas, drawn from its result (``atlas.json``) only.

The figure (one text width, no text below 7 pt: :mod:`wpgd.numerics.experiments.figstyle`): per
architecture a bar at the optimal normalised risk of the class it realises (hatched when the optimum
is an infimum that finite parameters only approach), the trained one-layer model's risk as a marker
with its 95% CI (filled: landed; open: did not land; a diamond: no WPGD form, trained only), and
horizontal lines at the linear-attention and the unconstrained-WPGD optima.
"""

from __future__ import annotations

import math
from pathlib import PurePath

from wpgd.numerics.experiments.figstyle import TEXT_WIDTH_IN, figure_bytes, pyplot, style

__all__ = ["atlas_table", "atlas_figure", "figure_files"]


def _num(x, fmt: str = ".4f") -> str:
    return "—" if x is None else format(x, fmt)


def _pct(x) -> str:
    if x is None:
        return "—"
    return f"{0.0 if abs(x) < 5e-5 else x:+.2%}"  # rounding noise of equal optima is not "-0.00%"


def atlas_table(result: dict) -> str:
    """The text table of an atlas: one row per architecture, then the two reference rows, then the
    caption of every class. Risks normalised (1 = predicting zero); gaps relative (risk / other − 1)."""
    trained = not result["theory_only"]
    head = ["architecture", "class", "optimum", "vs unconstr.", "vs linear"]
    if trained:
        head += ["trained [95% CI]", "vs optimum", "verdict"]
    rows = []
    for name in result["architectures"] + result["references"]:
        r = result["rows"][name]
        ref = r["kind"] == "reference"
        cells = [f"{name} (reference)" if ref else name, r["class"] or "—", _num(r["normalized_risk"]),
                 _pct(r["gap_unconstrained"]), _pct(r["gap_linear"])]
        if trained:
            t = r["trained"]
            if t is None:
                cells += ["", "", ""] if ref else ["(pending)", "", ""]
            else:
                plateau = " (plateau)" if t.get("status") == "plateau" else ""  # the trainer's own word
                cells += [f"{t['normalized_risk']:.4f} [{t['ci'][0]:.4f}, {t['ci'][1]:.4f}]", _pct(t["gap_theory"]),
                          t["verdict"] + plateau]
        rows.append(cells)
    widths = [max(len(str(c[i])) for c in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in [head] + rows]
    lines.append("")
    for name in result["architectures"]:
        lines.append(f"{name}: {result['rows'][name]['class_label']}")
    closures = [n for n in result["architectures"] if result["rows"][n].get("closure")]
    if closures:
        lines.append(f"closure ({', '.join(closures)}): the optimum is an infimum, approached but not attained by "
                     "finite parameters")
    if trained:
        lines.append(f"verdict: landed iff |trained / optimum − 1| ≤ {result['tolerance']:.0%}; below class = the "
                     "trained model beat its class optimum by more than that (a finding: it computes something "
                     "outside the class)")
    return "\n".join(lines)


def atlas_figure(result: dict, title: str | None = None):
    """The atlas figure of a result dict (call inside :func:`wpgd.numerics.experiments.figstyle.style`)."""
    plt = pyplot()
    names = result["architectures"]
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH_IN, 3.0))
    xs = range(len(names))
    values = []
    for x, name in zip(xs, names):
        r = rows[name]
        if r["normalized_risk"] is not None:
            values.append(r["normalized_risk"])
            ax.bar(x, r["normalized_risk"], width=0.6, color="C1", alpha=0.55, edgecolor="C1", linewidth=0.8,
                   hatch="///" if r.get("closure") else None, zorder=2)
        else:
            ax.text(x, 0.04, "no WPGD form", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    rotation=90, fontsize=7, color="0.35", zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0})
        t = r.get("trained")
        if t is None:
            continue
        values += [t["ci"][0], t["ci"][1]]
        lo, hi = t["normalized_risk"] - t["ci"][0], t["ci"][1] - t["normalized_risk"]
        marker, color, filled = _MARKERS[t["verdict"]]
        ax.errorbar([x], [t["normalized_risk"]], yerr=[[max(lo, 0.0)], [max(hi, 0.0)]], fmt=marker, color=color,
                    mfc=color if filled else "white", mec=color, ms=4.5, capsize=2, elinewidth=0.8, zorder=4)
    for cls, color, ls in (("linear", "C0", (0, (6, 2))), ("unconstrained", "k", "-")):
        val = rows[cls]["normalized_risk"]
        values.append(val)
        ax.axhline(val, color=color, linestyle=ls, lw=1.0, zorder=3)
    lo, hi = min(values), max(values)
    pad = max(0.15 * (hi - lo), 0.01 * hi, 1e-6)
    ax.set_ylim(max(0.0, lo - 2 * pad), hi + pad)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([rows[n]["label"] for n in names], rotation=20, ha="right")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("normalised risk")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, loc="left")
    handles = _legend_handles(plt, result)
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), frameon=False,
               handlelength=2.4, columnspacing=1.2)
    fig.tight_layout(rect=(0, 0.075 * math.ceil(len(handles) / 4) + 0.01, 1, 1))
    return fig


def _legend_handles(plt, result: dict) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    tol = result["tolerance"]
    handles: list = [Patch(facecolor="C1", alpha=0.55, edgecolor="C1", label="class optimum")]
    if any(result["rows"][n].get("closure") for n in result["architectures"]):
        handles.append(Patch(facecolor="C1", alpha=0.55, edgecolor="C1", hatch="///", label="infimum (not attained)"))
    handles += [Line2D([], [], color="C0", linestyle=(0, (6, 2)), label="linear attention"),
                Line2D([], [], color="k", label="unconstrained WPGD")]
    if not result["theory_only"]:
        for verdict, (marker, color, filled) in _MARKERS.items():
            label = {"landed": f"trained: landed (±{tol:.0%})", "trained only": "trained (no WPGD form)"}.get(
                verdict, f"trained: {verdict}")
            handles.append(Line2D([], [], color=color, marker=marker, mfc=color if filled else "white",
                                  linestyle="none", label=label))
    return handles


_MARKERS = {"landed": ("o", "k", True), "above class": ("^", "C3", False), "below class": ("v", "C4", False),
            "trained only": ("D", "0.3", True)}
"""Marker, colour and fill of a trained row by its verdict."""


def _title(result: dict) -> str:
    p = result["problem"]
    where = f"{PurePath(result['spec']).name}: " if result.get("spec") else ""
    heads = f", {result['heads']} heads" if result.get("heads", 1) != 1 else ""
    return f"{where}d = {p['d']}, n = {p['n']}, context {result['context']}{heads}"


def figure_files(result: dict, formats) -> dict[str, bytes]:
    """``{"atlas.<fmt>": bytes}`` for each format (the figure drawn once, encoded in each)."""
    plt = pyplot()
    with style():
        fig = atlas_figure(result, title=_title(result))
        try:
            return {f"atlas.{fmt}": figure_bytes(fig, fmt) for fmt in formats}
        finally:
            plt.close(fig)
