"""Figures rendered from result files (never from a training loop).

Inputs are the JSON files written by :mod:`wpgd.numerics.experiments.experiments` (``panel_<x>.json`` of Figure
1, ``multilayer.json``) and :mod:`wpgd.numerics.experiments.highdim` (``highdim.json``); the figure of a theory
curve lives in :mod:`wpgd.numerics.experiments.curve_plot` (re-exported here). Outputs: ``figure1``,
``multilayer`` and ``highdim`` in any of :data:`wpgd.numerics.experiments.figstyle.FORMATS`, sized for a
6.5-inch text width with no text below 7 pt (:mod:`wpgd.numerics.experiments.figstyle`), and ``report.md``
(:mod:`wpgd.numerics.experiments.report`).

Figure 1 conventions (one naming scheme, "<architecture>, trained" / "<architecture>, optimum"):
colour = architecture; trained models are markers joined by thin solid lines, slightly offset
in n so coinciding models stay visible (hollow vector markers); class optima are lines with a
distinct dash pattern each, the linear-attention optimum drawn wide and pale underneath so an
optimum that coincides with it (scalar gating in the reversed panel) shows inside it. Theory
curves are drawn only at n whose segment split is exact (``far_fraction·n`` an integer), so the
rounding of the split does not show as a sawtooth. The 95% intervals of the trained risks are
drawn as error bars only when one of them would be visible beyond the marker (half-width
larger than 2% of the panel's y-range); otherwise the footnote gives their largest half-width.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from wpgd.numerics.core.curve import scaled_segments
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.experiments.curve_plot import curve_figure, render_curve
from wpgd.numerics.experiments.experiments import PANELS
from wpgd.numerics.experiments.figstyle import ARCH, TEXT_WIDTH_IN, pyplot, save_figure, style
from wpgd.numerics.experiments.report import figure1_table, highdim_table, write_report

__all__ = [
    "load_results",
    "render_figure1",
    "render_multilayer",
    "render_highdim",
    "highdim_figure",
    "render_curve",
    "figure1_figure",
    "multilayer_figure",
    "curve_figure",
    "figure1_table",
    "highdim_table",
    "write_report",
    "render_all",
]

# model family -> (colour, marker, marker face filled?, offset rank)
_MODEL_STYLE = {
    "linear": ("C0", "o", True, -1.5),
    "scalar": ("C1", "s", True, -0.5),
    "scalar-nodelim": ("C2", "^", True, 0.5),
    "vector": ("C3", "D", False, 1.5),
}
# class -> (colour, dash pattern, line width, alpha, z-order)
_THEORY_STYLE = {
    "linear": ("C0", (0, (6, 2)), 2.6, 0.45, 1),
    "scalar": ("C1", (0, (3, 1.5)), 1.1, 1.0, 3),
    "geometric": ("C2", (0, (1, 1.2)), 1.2, 1.0, 2),
    "unconstrained": ("k", (0, (5, 1.5, 1, 1.5)), 0.9, 1.0, 4),
}
_VECTOR_OPT = ("C3", "x", 5)
_CLASS_OF_MODEL = {"linear": "linear", "scalar": "scalar", "scalar-nodelim": "geometric", "vector": "vector"}
_RISK_LABEL = "normalised risk"
_RISK_NOTE = "normalised risk = L / (r_q tr Σ + σ²); 1 = predicting zero"


def load_results(results_dir) -> dict:
    """Read every result file of a folder.

    Returns:
        {"panels": {letter: panel dict}, "multilayer": dict or None, "highdim": dict or None}.

    Raises:
        InvalidProblemError: the folder holds no result file.
    """
    root = Path(results_dir)
    panels = {}
    for f in sorted(root.glob("panel_*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        panels[data["panel"]] = data
    multi = highdim = None
    if (root / "multilayer.json").exists():
        multi = json.loads((root / "multilayer.json").read_text(encoding="utf-8"))
    if (root / "highdim.json").exists():
        highdim = json.loads((root / "highdim.json").read_text(encoding="utf-8"))
    if not panels and multi is None and highdim is None:
        raise InvalidProblemError(
            f"no result files (panel_*.json, multilayer.json, highdim.json) in {str(root)!r}"
        )
    return {"panels": panels, "multilayer": multi, "highdim": highdim}


def panel_title(panel: dict) -> str:
    """The panel's title in words (a built-in panel's current title when its spec is unchanged)."""

    spec = dict(panel.get("spec", {}))
    builtin = PANELS.get(panel.get("panel"))
    if builtin is not None:
        from dataclasses import asdict

        ref = asdict(builtin)
        same = all(
            _jsonish(spec.get(k)) == _jsonish(v) for k, v in ref.items() if k not in ("title", "models")
        )
        if same:
            return builtin.title
    return panel.get("title", f"panel {panel.get('panel', '?')}")


def _jsonish(v):
    return json.loads(json.dumps(v))


def panel_detail(spec: dict) -> str:
    """One line of the panel's parameters (Σ, σ², c, C₁₂, far share) from its spec."""
    base = spec.get("base")
    if base:
        parts = [
            f"d = {len(base['sigma'])}",
            "segments ∝ " + ":".join(map(str, base["segments"])),
            "c = (" + ", ".join(f"{c:.3g}" for c in base["query_correlation"]) + ")",
        ]
        if base.get("noise"):
            parts.append(f"σ² = {base['noise']:.3g}")
        return ", ".join(parts)
    sig = {"identity": "Σ = I", "spread": "Σ spectrum spread ×4", "powerlaw": "λⱼ ∝ 1/j"}.get(
        spec.get("spectrum"), "Σ from spec"
    )
    parts = [sig]
    if spec.get("noise"):
        parts.append(f"σ² = {spec['noise']:g}")
    qc = spec.get("query_correlation")
    if qc is not None:
        parts.append("c = (" + ", ".join(f"{c:g}" for c in qc) + ")")
    corr = spec.get("correlation")
    if corr and len(corr) == 2 and corr[0][1]:
        parts.append(f"C₁₂ = {corr[0][1]:g}")
    if spec.get("far_fraction", 0.5) != 0.5:
        parts.append(f"far share {spec['far_fraction']:g}")
    return ", ".join(parts)


def _exact_split(spec: dict, n: int) -> bool:
    if spec.get("base"):

        return scaled_segments(spec["base"]["segments"], n)[1]
    f = float(spec.get("far_fraction", 0.5))
    return abs(f * n - round(f * n)) < 1e-9


def _panel_axes(plt, count: int):
    cols = 1 if count == 1 else 2
    rows = math.ceil(count / cols)
    width = TEXT_WIDTH_IN  # one panel too: the legend and the footnote need the width
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.25 * rows + 1.25), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def figure1_figure(panels: dict):
    """The Figure-1 matplotlib figure (call inside :func:`wpgd.numerics.experiments.figstyle.style`).

    Args:
        panels: {letter: panel dict} from :func:`load_results`.

    Returns:
        The figure.
    """
    plt = pyplot()
    letters = sorted(panels)
    fig, axes = _panel_axes(plt, len(letters))
    handles: dict = {}
    ci_max = 0.0
    bars_drawn = False
    for ax, p in zip(axes, letters):
        panel = panels[p]
        th, spec = panel["theory"], panel.get("spec", {})
        span = _y_span(panel)
        for cls, (color, dash, lw, alpha, z) in _THEORY_STYLE.items():
            vals = th.get(cls)
            if not vals:
                continue
            pts = [(n, v) for n, v in zip(th["n"], vals) if v is not None and _exact_split(spec, n)]
            if pts:
                (h,) = ax.plot(*zip(*pts), color=color, linestyle=dash, lw=lw, alpha=alpha, zorder=z)
                handles.setdefault(f"{ARCH[cls]}, optimum", h)
        xs = sorted({r["n"] for r in panel["rows"]})
        step = 0.011 * (max(xs) - min(xs)) if len(xs) > 1 else 0.3
        for model, (color, marker, filled, rank) in _MODEL_STYLE.items():
            rows = sorted((r for r in panel["rows"] if r["model"] == model), key=lambda r: r["n"])
            if not rows:
                continue
            ns = [r["n"] + rank * step for r in rows]
            ys = [r["risk"] for r in rows]
            half = [max(y - r["ci"][0], r["ci"][1] - y) for y, r in zip(ys, rows)]
            ci_max = max(ci_max, max(h / y for h, y in zip(half, ys)))
            face = color if filled else "white"
            (h,) = ax.plot(
                ns,
                ys,
                color=color,
                lw=0.7,
                marker=marker,
                ms=4.2 if filled else 5.2,
                mfc=face,
                mec=color,
                mew=1.0,
                zorder=5 if filled else 6,
            )
            handles.setdefault(f"{ARCH[model]}, trained", h)
            if max(half) > 0.02 * span:
                bars_drawn = True
                err = [[y - r["ci"][0] for y, r in zip(ys, rows)], [r["ci"][1] - y for y, r in zip(ys, rows)]]
                ax.errorbar(ns, ys, yerr=err, fmt="none", ecolor=color, elinewidth=0.8, capsize=1.5, zorder=4)
            if model == "vector":
                vt = [
                    (r["n"], r["references"]["vector"]["risk"]) for r in rows if "vector" in r["references"]
                ]
                if vt:
                    color_v, mk, ms = _VECTOR_OPT
                    (hv,) = ax.plot(*zip(*vt), ls="none", marker=mk, color=color_v, ms=ms, mew=1.0, zorder=7)
                    handles.setdefault(f"{ARCH['vector']}, optimum", hv)
        ax.set_title(f"{panel_title(panel)}\n{panel_detail(spec)}", fontsize=8, loc="left")
        ax.set_xlabel("demonstrations n")
        ax.set_ylabel(_RISK_LABEL)
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
    # two columns, one row per architecture: "…, trained" left, "…, optimum" right
    rows_ = [
        ("linear", "linear"),
        ("scalar", "scalar"),
        ("scalar-nodelim", "geometric"),
        ("vector", "vector"),
        (None, "unconstrained"),
    ]
    rows_ = [
        (t, o) for t, o in rows_ if f"{ARCH.get(t)}, trained" in handles or f"{ARCH[o]}, optimum" in handles
    ]
    blank = plt.Line2D([], [], linestyle="none", marker="none")

    def entry(label):
        return (handles[label], label) if label in handles else (blank, "")

    left = [entry(f"{ARCH.get(t)}, trained") for t, _ in rows_]
    right = [entry(f"{ARCH[o]}, optimum") for _, o in rows_]
    legend_in = 0.145 * len(rows_) + 0.1
    note_in = 0.3
    height = fig.get_size_inches()[1]
    fig.legend(
        [h for h, _ in left + right],
        [lab for _, lab in left + right],
        loc="lower center",
        ncol=2,
        frameon=False,
        bbox_to_anchor=(0.5, note_in / height),
        handlelength=2.8,
        columnspacing=2.0,
        borderaxespad=0.0,
    )
    ci = (
        "95% CIs shown as bars"
        if bars_drawn
        else f"95% CIs ≤ ±{ci_max:.2%} (smaller than the markers, not drawn)"
    )
    note = f"{_RISK_NOTE}; trained = held-out risk.\n{ci}; trained markers are offset slightly in n."
    fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=7, linespacing=1.3)
    fig.tight_layout(rect=(0, (legend_in + note_in + 0.05) / height, 1, 1), h_pad=0.8, w_pad=1.0)
    return fig


def _y_span(panel: dict) -> float:
    ys = [r["risk"] for r in panel["rows"]]
    for cls in _THEORY_STYLE:
        ys += [v for v in panel["theory"].get(cls) or [] if v is not None]
    return (max(ys) - min(ys)) if len(ys) > 1 else 1.0


def render_figure1(panels: dict, out_dir, formats=("png", "pdf")) -> list[Path]:
    """Write ``figure1.<fmt>`` (see :func:`figure1_figure`) into ``out_dir``; returns the paths."""
    with style():
        fig = figure1_figure(panels)
        return save_figure(fig, out_dir, "figure1", formats)


def _problem_line(problem: dict) -> str:
    parts = [f"d = {problem['d']}", f"n = {problem['n']}"]
    if problem.get("segments"):
        parts.append("segments " + "+".join(map(str, problem["segments"])))
    if problem.get("query_correlation") is not None:
        parts.append("c = (" + ", ".join(f"{c:g}" for c in problem["query_correlation"]) + ")")
    if problem.get("noise"):
        parts.append(f"σ² = {problem['noise']:g}")
    return ", ".join(parts)


def render_multilayer(multi: dict, out_dir, formats=("png", "pdf")) -> list[Path]:
    """Write ``multilayer.<fmt>`` (see :func:`multilayer_figure`); returns the paths."""
    with style():
        return save_figure(multilayer_figure(multi), out_dir, "multilayer", formats)


def multilayer_figure(multi: dict):
    """Trained 1..L-layer risks against the one-layer optimum and the L-step WPGD reference; the
    title names the problem, the legend sits below the axes. Call inside
    :func:`wpgd.numerics.experiments.figstyle.style`."""
    plt = pyplot()
    rows = multi["rows"]
    cfg = multi["config"]
    fig, ax = plt.subplots(figsize=(3.4, 3.4))
    Ls = [r["layers"] for r in rows]
    ys = [r["risk"] for r in rows]
    half = max(max(y - r["ci"][0], r["ci"][1] - y) / y for y, r in zip(ys, rows))
    name = ARCH.get(cfg["model"], cfg["model"])
    ax.plot(Ls, ys, marker="o", color="C1", label=f"{name}, trained")
    span = max(ys) - min(ys) or 1.0
    if max(max(y - r["ci"][0], r["ci"][1] - y) for y, r in zip(ys, rows)) > 0.02 * span:
        err = [[y - r["ci"][0] for y, r in zip(ys, rows)], [r["ci"][1] - y for y, r in zip(ys, rows)]]
        ax.errorbar(Ls, ys, yerr=err, fmt="none", ecolor="C1", capsize=2)
        ci = "trained: 95% CIs shown as bars"
    else:
        ci = f"trained: 95% CIs ≤ ±{half:.2%} (smaller than the markers, not drawn)"
    ax.axhline(
        rows[0]["one_layer_optimum"],
        color="k",
        ls=(0, (5, 2)),
        lw=1,
        label=f"{ARCH.get(multi['primary'], multi['primary'])}, 1-layer optimum",
    )
    ms = [(r["layers"], r["multistep_optimum"]) for r in rows if r["multistep_optimum"] is not None]
    if ms:
        ax.plot(*zip(*ms), ls=(0, (2, 1.5)), marker="x", color="C3", label="L-step WPGD reference (fitted)")
    ax.set_xticks(Ls)
    ax.set_xlabel("layers L")
    ax.set_ylabel(_RISK_LABEL)
    problem = multi.get("problem") or {}
    title = f"{name}, 1 to {max(Ls)} layers, panel ({cfg['panel']}) problem"
    ax.set_title(f"{title}\n{_problem_line(problem)}" if problem else title, fontsize=8, loc="left")
    ax.grid(alpha=0.3)
    fig.legend(loc="lower center", ncol=1, frameon=False, bbox_to_anchor=(0.5, 0.05))
    fig.text(0.5, 0.01, ci, ha="center", va="bottom", fontsize=7)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    return fig


def render_highdim(result: dict, out_dir, formats=("png", "pdf")) -> list[Path]:
    """``highdim.<fmt>``: trained normalised risk (95% CI bars) and the class optima against n."""
    with style():
        return save_figure(highdim_figure(result), out_dir, "highdim", formats)


def highdim_figure(result: dict):
    """The figure of :func:`render_highdim` (call inside :func:`~wpgd.numerics.experiments.figstyle.style`)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.4, 3.0))
    th = result["theory"]
    for cls in ("linear", "scalar"):
        color, dash, lw, alpha, z = _THEORY_STYLE[cls]
        ax.plot(
            th["n"],
            th[cls],
            color=color,
            linestyle=dash,
            lw=lw,
            alpha=alpha,
            zorder=z,
            marker="_",  # a tick at each n: a grid of one n (``--n 100``) has no line to draw
            markersize=16,
            markeredgewidth=max(lw, 1.5),
            label=f"{ARCH[cls]}, optimum",
        )
    for model in sorted({r["model"] for r in result["rows"]}):
        rows = sorted((r for r in result["rows"] if r["model"] == model), key=lambda r: r["n"])
        color, marker, _, _ = _MODEL_STYLE[model]
        ns = [r["n"] for r in rows]
        risk = [r["risk"] for r in rows]
        err = [[r["risk"] - r["ci"][0] for r in rows], [r["ci"][1] - r["risk"] for r in rows]]
        ax.errorbar(
            ns,
            risk,
            yerr=err,
            color=color,
            marker=marker,
            linestyle="-",
            capsize=2,
            label=f"{ARCH[model]}, trained (95% CI)",
        )
    ax.set_xscale("log")
    ax.set_xticks(th["n"])
    ax.set_xticklabels([str(n) for n in th["n"]])
    ax.minorticks_off()
    ax.set_xlabel("demonstrations n")
    ax.set_ylabel(_RISK_LABEL)
    ax.set_title(f"d = {result['d']}: trained vs theory ({result['device']})", loc="left")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def render_all(results_dir, formats=("png", "pdf")) -> list[Path]:
    """Render every figure of a results folder and its ``report.md``; returns the written paths."""
    results = load_results(results_dir)
    paths: list[Path] = []
    if results["panels"]:
        paths += render_figure1(results["panels"], results_dir, formats)
    if results["multilayer"] is not None:
        paths += render_multilayer(results["multilayer"], results_dir, formats)
    if results.get("highdim") is not None:
        paths += render_highdim(results["highdim"], results_dir, formats)
    paths.append(write_report(results, results_dir, paths))
    return paths
