"""The figure of a theory curve (:mod:`wpgd.numerics.core.curve`): optimal risk of each class against the varied
parameter, one 3.4-inch column wide, no text below 7 pt (:mod:`wpgd.numerics.experiments.figstyle`)."""

from __future__ import annotations

import math
from pathlib import Path

from wpgd.numerics.experiments.figstyle import ARCH, pyplot, save_figure, style

__all__ = ["curve_figure", "render_curve"]

# class -> (colour, linestyle, line width, alpha, marker, marker size): optima that coincide
# (scalar = vector = unconstrained when Assumption 3 holds) are drawn nested, widest first
_CURVE_STYLE = {
    "linear": ("C0", (0, (6, 2)), 1.1, 1.0, "o", 4.0),
    "geometric": ("C2", (0, (1, 1.2)), 1.2, 1.0, "^", 4.5),
    "scalar": ("C1", "-", 3.4, 0.45, "s", 7.0),
    "vector": ("C3", (0, (3, 1.5)), 1.6, 0.9, "D", 4.8),
    "unconstrained": ("k", "-", 0.8, 1.0, "x", 3.5),
}


def curve_figure(curve: dict, title: str | None = None):
    """The figure of a theory curve (:meth:`wpgd.numerics.core.curve.Curve.to_dict`): normalised optimal risk
    of each class against the varied parameter; the legend sits below the axes. Coinciding optima
    stay visible: wide pale lines under thin ones, nested hollow markers. Call inside
    :func:`wpgd.numerics.experiments.figstyle.style`."""
    plt = pyplot()
    classes = curve["classes"]
    fig, ax = plt.subplots(figsize=(3.4, 2.5 + 0.16 * math.ceil(len(classes) / 2)))
    xs = curve["values"]
    every = max(1, len(xs) // 12)
    for cls in classes:
        color, ls, lw, alpha, marker, ms = _CURVE_STYLE[cls]
        ax.plot(
            xs,
            curve["normalized_risk"][cls],
            color=color,
            linestyle=ls,
            lw=lw,
            alpha=alpha,
            marker=marker,
            ms=ms,
            markevery=every,
            mfc="none",
            mec=color,
            mew=0.9,
            label=ARCH[cls],
        )
    ax.set_xlabel(_axis_name(curve["vary"]))
    ax.set_ylabel("optimal normalised risk")
    if title:
        ax.set_title(title, loc="left")
    ax.grid(alpha=0.3)
    fig.legend(loc="lower center", ncol=2, frameon=False, handlelength=2.6, columnspacing=1.0)
    fig.tight_layout(rect=(0, 0.065 * math.ceil(len(classes) / 2) + 0.01, 1, 1))
    return fig


def _axis_name(vary: str) -> str:
    head, *idx = vary.split(".")
    names = {
        "n": "prompt length n",
        "noise": "noise variance σ²",
        "query_variance": "query variance r_q",
        "toeplitz": "Toeplitz ρ of Σ",
        "dim": "feature dimension d",
    }
    if head in names:
        return names[head]
    if head == "query_correlation":
        return f"c_{idx[0]}: segment {idx[0]}'s correlation with the query"
    if head == "correlation":
        return f"C_{idx[0]}{idx[1]}: correlation of segment tasks {idx[0]} and {idx[1]}"
    return f"size of segment {idx[0]}" if head == "segment" else vary


def render_curve(curve: dict, out_dir, formats=("png",), title: str | None = None) -> list[Path]:
    """Write ``curve.<fmt>`` into ``out_dir`` (each file atomically); returns the paths."""
    with style():
        return save_figure(curve_figure(curve, title), out_dir, "curve", formats)
