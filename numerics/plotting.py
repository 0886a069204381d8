"""Figures and Markdown reports rendered from result files (never from a training loop).

Inputs are the JSON files written by :mod:`numerics.experiments`: ``panel_<x>.json`` (Figure 1)
and ``multilayer.json``. Outputs: ``figure1.png`` / ``figure1.pdf``, ``multilayer.png`` /
``multilayer.pdf`` and ``report.md`` beside them. Matplotlib runs on the Agg backend.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InvalidProblemError

__all__ = ["load_results", "render_figure1", "render_multilayer", "render_highdim", "figure1_table", "highdim_table",
           "write_report", "render_all"]

_MODEL_STYLE = {
    "linear": ("C0", "o", "LinAtt (trained)"),
    "scalar": ("C1", "s", "GLA scalar + delimiters (trained)"),
    "scalar-nodelim": ("C2", "^", "GLA scalar, no delimiters (trained)"),
    "vector": ("C3", "D", "GLA vector (trained)"),
}
_THEORY_STYLE = {
    "linear": ("C0", (0, (5, 3)), "linear-attention optimum"),
    "scalar": ("C1", (0, (5, 3)), "scalar-gating optimum"),
    "geometric": ("C2", (0, (1, 2)), "fixed-decay line"),
    "unconstrained": ("k", (0, (5, 3)), "unconstrained optimum"),
}


def load_results(results_dir) -> dict:
    """Read every result file of a folder.

    Returns:
        {"panels": {letter: panel dict}, "multilayer": dict or None}.

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
        raise InvalidProblemError(f"no result files (panel_*.json, multilayer.json, highdim.json) in {str(root)!r}")
    return {"panels": panels, "multilayer": multi, "highdim": highdim}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def render_figure1(panels: dict, out_dir) -> list[Path]:
    """Plot normalised risk against n: solid = trained models (95% CI bars), dashed = theory.

    Args:
        panels: {letter: panel dict} from :func:`load_results`.
        out_dir: where ``figure1.png`` and ``figure1.pdf`` go.

    Returns:
        The written paths.
    """
    plt = _plt()
    letters = sorted(panels)
    fig, axes = plt.subplots(1, len(letters), figsize=(4.2 * len(letters), 3.8), squeeze=False)
    for ax, p in zip(axes[0], letters):
        panel = panels[p]
        th = panel["theory"]
        for cls, (color, ls, label) in _THEORY_STYLE.items():
            vals = th.get(cls)
            if vals and any(v is not None for v in vals):
                pts = [(n, v) for n, v in zip(th["n"], vals) if v is not None]
                ax.plot([a for a, _ in pts], [b for _, b in pts], color=color, linestyle=ls, lw=1.3, label=label)
        for model, (color, marker, label) in _MODEL_STYLE.items():
            rows = sorted((r for r in panel["rows"] if r["model"] == model), key=lambda r: r["n"])
            if not rows:
                continue
            ns = [r["n"] for r in rows]
            ys = [r["risk"] for r in rows]
            err = [[y - r["ci"][0] for y, r in zip(ys, rows)], [r["ci"][1] - y for y, r in zip(ys, rows)]]
            ax.errorbar(ns, ys, yerr=err, color=color, marker=marker, ms=4, lw=1.6, capsize=2, label=label)
            if model == "vector":
                vt = [(r["n"], r["references"]["vector"]["risk"]) for r in rows if "vector" in r["references"]]
                if vt:
                    ax.plot(*zip(*vt), ls="none", marker="x", color=color, ms=7, label="vector-gating optimum")
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xlabel("demonstrations n")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("normalised test risk  L / (r_q tr Σ + σ²)")
    seen = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(5, len(seen)), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.18, 1, 1))
    return _save_all(plt, fig, out_dir, "figure1")


def render_multilayer(multi: dict, out_dir) -> list[Path]:
    """Bar-and-line plot of the trained 1..L-layer risks against the theory lines."""
    plt = _plt()
    rows = multi["rows"]
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    Ls = [r["layers"] for r in rows]
    ys = [r["risk"] for r in rows]
    err = [[y - r["ci"][0] for y, r in zip(ys, rows)], [r["ci"][1] - y for y, r in zip(ys, rows)]]
    ax.errorbar(Ls, ys, yerr=err, marker="o", color="C1", capsize=3, label=f"trained {multi['config']['model']}")
    ax.axhline(rows[0]["one_layer_optimum"], color="k", ls="--", lw=1, label=f"1-layer {multi['primary']} optimum")
    ms = [(r["layers"], r["multistep_optimum"]) for r in rows if r["multistep_optimum"] is not None]
    if ms:
        ax.plot(*zip(*ms), ls="--", marker="x", color="C3", label="L-step WPGD reference (fitted)")
        cis = [(r["layers"], r["multistep_ci"]) for r in rows if r.get("multistep_ci")]
        for L, (lo, hi) in cis:
            ax.plot([L, L], [lo, hi], color="C3", lw=3, alpha=0.5)
    ax.set_xticks(Ls)
    ax.set_xlabel("layers L")
    ax.set_ylabel("normalised test risk")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_all(plt, fig, out_dir, "multilayer")


def render_highdim(result: dict, out_dir) -> list[Path]:
    """``highdim.png`` / ``.pdf``: trained normalised risk (95% CI bars) and the class optima against n."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    th = result["theory"]
    for cls in ("linear", "scalar"):
        color, ls, label = _THEORY_STYLE[cls]
        ax.plot(th["n"], th[cls], color=color, linestyle=ls, label=label)
    for model in sorted({r["model"] for r in result["rows"]}):
        rows = sorted((r for r in result["rows"] if r["model"] == model), key=lambda r: r["n"])
        color, marker, label = _MODEL_STYLE[model]
        ns = [r["n"] for r in rows]
        risk = [r["risk"] for r in rows]
        err = [[r["risk"] - r["ci"][0] for r in rows], [r["ci"][1] - r["risk"] for r in rows]]
        ax.errorbar(ns, risk, yerr=err, color=color, marker=marker, linestyle="-", label=label, capsize=3)
    ax.set_xscale("log")
    ax.set_xticks(th["n"])
    ax.set_xticklabels([str(n) for n in th["n"]])
    ax.minorticks_off()
    ax.set_xlabel("demonstrations n")
    ax.set_ylabel("normalised risk")
    ax.set_title(f"d = {result['d']}: trained vs theory ({result['device']})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_all(plt, fig, out_dir, "highdim")


def highdim_table(result: dict) -> str:
    """Markdown table of the high-dimensional experiment: trained ± CI vs the class optimum, status, timing."""
    lines = ["| model | n | trained (95% CI) | class optimum | gap | status | steps | s/step (incl. periodic evals) |",
             "|---|---:|---|---:|---:|---|---:|---:|"]
    for r in sorted(result["rows"], key=lambda r: (r["model"], r["n"])):
        ref = r["references"].get(r["primary"], {})
        lines.append(f"| {r['model']} | {r['n']} | {r['risk']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | "
                     f"{ref.get('risk', float('nan')):.4f} | {_fmt_gap(ref.get('gap'))} | {r.get('status', '—')} | "
                     f"{r.get('steps', '—')} | {r.get('seconds_per_step', 0.0):.3f} |")
    return "\n".join(lines)


def _save_all(plt, fig, out_dir, stem: str) -> list[Path]:
    """Write ``stem``.png and ``stem``.pdf into ``out_dir`` (atomically) and close the figure."""
    out = Path(out_dir)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        _save(fig, path)
    plt.close(fig)
    return paths


def _save(fig, path: Path) -> None:
    import io

    from .fileio import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix[1:], dpi=150)
    write_atomic(path, buf.getvalue())


def _fmt_gap(g) -> str:
    return "—" if g is None else f"{g:+.2%}"


def figure1_table(panels: dict) -> str:
    """Markdown table: panel, model, n, trained risk ± CI, theory risk(s), gap(s)."""
    lines = [
        "| panel | model | n | trained risk (95% CI) | ± rel. | theory (class) | risk | gap |",
        "|---|---|---:|---|---:|---|---:|---:|",
    ]
    for p in sorted(panels):
        for r in sorted(panels[p]["rows"], key=lambda r: (list(_MODEL_STYLE).index(r["model"]), r["n"])):
            refs = r["references"] or {}
            first = True
            for cls in refs or [None]:
                trained = (f"{r['risk']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]" if first else "")
                rel = f"{r['rel_ci_halfwidth']:.2%}" if first else ""
                if cls is None:
                    lines.append(f"| {p} | {r['model']} | {r['n']} | {trained} | {rel} | (unavailable) | — | — |")
                else:
                    ref = refs[cls]
                    lines.append(
                        f"| {p if first else ''} | {r['model'] if first else ''} | {r['n'] if first else ''} | "
                        f"{trained} | {rel} | {cls} | {ref['risk']:.4f} | {_fmt_gap(ref['gap'])} |"
                    )
                first = False
    return "\n".join(lines)


def _checks_table(panels: dict) -> str:
    lines = ["| panel | n | check | result | detail |", "|---|---:|---|---|---|"]
    for p in sorted(panels):
        for c in panels[p].get("checks", []):
            lines.append(f"| {p} | {c['n']} | {c['check']} | {'pass' if c['passed'] else 'FAIL'} | {c['detail']} |")
    return "\n".join(lines)


def _ablation(row: dict) -> str:
    a = row.get("feature_write_ablation")
    if not a:
        return "—"
    return f"{a['ablated_risk']:.4f} (vs {a['risk']:.4f}, {a['prompts']} prompts)"


def _multilayer_table(multi: dict) -> str:
    lines = ["| layers | trained risk (95% CI) | 1-layer optimum | gap | L-step WPGD reference (95% CI) | gap "
             "| trained, feature writes of lower layers zeroed |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in multi["rows"]:
        ms = "—" if r["multistep_optimum"] is None else f"{r['multistep_optimum']:.4f}"
        if r.get("multistep_ci"):
            ms += f" [{r['multistep_ci'][0]:.4f}, {r['multistep_ci'][1]:.4f}]"
        lines.append(
            f"| {r['layers']} | {r['risk']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | {r['one_layer_optimum']:.4f} | "
            f"{_fmt_gap(r['gap_one_layer'])} | {ms} | {_fmt_gap(r['gap_multistep'])} | {_ablation(r)} |"
        )
    return "\n".join(lines)


def write_report(results: dict, out_dir, figures: list[Path] = ()) -> Path:
    """Write ``report.md``: the tables (risks normalised by r_q tr Σ + σ²) and the figure paths."""
    from .fileio import write_atomic

    parts = ["# Trained GLA vs WPGD theory", ""]
    parts += ["Risks are normalised (1 = predicting zero). Gap = trained / theory − 1. "
              "Intervals: 95% block bootstrap over fresh held-out prompts "
              "(control-variate estimator where stated in the run's metrics.json).", ""]
    for f in figures:
        if f.suffix == ".png":
            parts.append(f"![{f.stem}]({f.name})")
    parts.append("")
    if results["panels"]:
        parts += ["## Figure 1", "", figure1_table(results["panels"]), "", "### Checks", "",
                  _checks_table(results["panels"]), ""]
        notes = sorted({n for p in results["panels"].values() for n in p["theory"].get("notes", [])})
        if notes:
            parts += ["Notes: " + "; ".join(notes), ""]
    if results["multilayer"] is not None:
        m = results["multilayer"]
        parts += [f"## Multi-layer ({m['config']['model']}, panel {m['config']['panel']}, n = {m['config']['n']})", "",
                  _multilayer_table(m), ""]
        if m.get("checks"):
            lines = ["| layers | check | result | detail |", "|---:|---|---|---|"]
            lines += [f"| {c['n']} | {c['check']} | {'pass' if c['passed'] else 'FAIL'} | {c['detail']} |"
                      for c in m["checks"]]
            parts += ["### Checks", "", "\n".join(lines), ""]
        if m.get("notes"):
            parts += ["Notes: " + "; ".join(m["notes"]), ""]
    if results.get("highdim") is not None:
        h = results["highdim"]
        parts += [f"## High-dimensional setting (d = {h['d']}, device {h['device']})", "",
                  f"{h['panel']['title']}; family-default training recipe; seeds in highdim_config.json.", "",
                  highdim_table(h), ""]
    path = Path(out_dir) / "report.md"
    write_atomic(path, "\n".join(parts).encode("utf-8"))
    return path


def render_all(results_dir) -> list[Path]:
    """Render every figure of a results folder and its ``report.md``; returns the written paths."""
    results = load_results(results_dir)
    paths: list[Path] = []
    if results["panels"]:
        paths += render_figure1(results["panels"], results_dir)
    if results["multilayer"] is not None:
        paths += render_multilayer(results["multilayer"], results_dir)
    if results.get("highdim") is not None:
        paths += render_highdim(results["highdim"], results_dir)
    paths.append(write_report(results, results_dir, paths))
    return paths
