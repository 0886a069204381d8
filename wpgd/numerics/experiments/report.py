"""Markdown tables and ``report.md`` of a results folder (rendered from the result files only).

Tables: Figure 1 (trained risk with its 95% CI against each class optimum), the checks, the
multi-layer table and the high-dimensional one. Risks are normalised by r_q tr Σ + σ².
"""

from __future__ import annotations

from pathlib import Path

from wpgd.numerics.core.fileio import write_atomic
from wpgd.numerics.core.vocabulary import MODEL_KINDS

__all__ = ["figure1_table", "highdim_table", "write_report"]

_MODEL_ORDER = tuple(MODEL_KINDS)


def highdim_table(result: dict) -> str:
    """Markdown table of the high-dimensional experiment: trained ± CI vs the class optimum, status,
    timing."""
    lines = [
        "| model | n | trained (95% CI) | class optimum | gap | status | steps "
        "| s/step (incl. periodic evals) |",
        "|---|---:|---|---:|---:|---|---:|---:|",
    ]
    for r in sorted(result["rows"], key=lambda r: (r["model"], r["n"])):
        ref = r["references"].get(r["primary"], {})
        lines.append(
            f"| {r['model']} | {r['n']} | {r['risk']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | "
            f"{ref.get('risk', float('nan')):.4f} | {_fmt_gap(ref.get('gap'))} | {r.get('status', '—')} | "
            f"{r.get('steps', '—')} | {_fmt_seconds(r.get('seconds_per_step'))} |"
        )
    return "\n".join(lines)


def _fmt_seconds(s) -> str:
    return "— (not timed: resumed after training)" if s is None else f"{s:.3f}"


def _fmt_gap(g) -> str:
    return "—" if g is None else f"{g:+.2%}"


def figure1_table(panels: dict) -> str:
    """Markdown table: panel, model, n, trained risk ± CI, theory risk(s), gap(s)."""
    lines = [
        "| panel | model | n | trained risk (95% CI) | ± rel. | theory (class) | risk | gap |",
        "|---|---|---:|---|---:|---|---:|---:|",
    ]
    for p in sorted(panels):
        for r in sorted(panels[p]["rows"], key=lambda r: (_model_rank(r["model"]), r["n"])):
            refs = r["references"] or {}
            first = True
            for cls in refs or [None]:
                trained = f"{r['risk']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]" if first else ""
                rel = f"{r['rel_ci_halfwidth']:.2%}" if first else ""
                if cls is None:
                    lines.append(
                        f"| {p} | {r['model']} | {r['n']} | {trained} | {rel} | (unavailable) | — | — |"
                    )
                else:
                    ref = refs[cls]
                    lines.append(
                        f"| {p if first else ''} | {r['model'] if first else ''} | "
                        f"{r['n'] if first else ''} | "
                        f"{trained} | {rel} | {cls} | {ref['risk']:.4f} | {_fmt_gap(ref['gap'])} |"
                    )
                first = False
    return "\n".join(lines)


def _checks_table(panels: dict) -> str:
    lines = ["| panel | n | check | result | detail |", "|---|---:|---|---|---|"]
    for p in sorted(panels):
        for c in panels[p].get("checks", []):
            lines.append(
                f"| {p} | {c['n']} | {c['check']} | {'pass' if c['passed'] else 'FAIL'} | {c['detail']} |"
            )
    return "\n".join(lines)


def _ablation(row: dict) -> str:
    a = row.get("feature_write_ablation")
    if not a:
        return "—"
    return f"{a['ablated_risk']:.4f} (vs {a['risk']:.4f}, {a['prompts']} prompts)"


def _with_ci(value, ci) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def _multilayer_table(multi: dict) -> str:
    lines = [
        "| layers | trained risk (95% CI) | 1-layer optimum | gap | class optimum (95% CI) | gap_theory "
        "| gated GD++ without rescaling (95% CI) | gap | L-step WPGD reference (95% CI) | gap "
        "| trained, feature writes of lower layers zeroed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in multi["rows"]:
        lines.append(
            f"| {r['layers']} | {r['risk']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | "
            f"{r['one_layer_optimum']:.4f} | {_fmt_gap(r['gap_one_layer'])} | "
            f"{_with_ci(r.get('theory'), r.get('theory_ci'))} | {_fmt_gap(r.get('gap_theory'))} | "
            f"{_with_ci(r.get('gdpp_optimum'), r.get('gdpp_ci'))} | {_fmt_gap(r.get('gap_gdpp'))} | "
            f"{_with_ci(r['multistep_optimum'], r.get('multistep_ci'))} | {_fmt_gap(r['gap_multistep'])} | "
            f"{_ablation(r)} |"
        )
    classes = sorted({r["theory_class"] for r in multi["rows"] if r.get("theory_class")})
    if classes:
        lines += ["", "Class optimum: " + "; ".join(classes) + " (out of sample, an upper-bound estimate)."]
    return "\n".join(lines)


def write_report(results: dict, out_dir, figures: list[Path] = ()) -> Path:
    """Write ``report.md``: the tables (risks normalised by r_q tr Σ + σ²) and the figure paths."""

    parts = ["# Trained GLA vs WPGD theory", ""]
    parts += [
        "Risks are normalised (1 = predicting zero). Gap = trained / theory − 1. "
        "Intervals: 95% block bootstrap over fresh held-out prompts "
        "(control-variate estimator where stated in the run's metrics.json).",
        "",
    ]
    for f in figures:
        if f.suffix == ".png":
            parts.append(f"![{f.stem}]({f.name})")
    parts.append("")
    if results["panels"]:
        parts += [
            "## Figure 1",
            "",
            figure1_table(results["panels"]),
            "",
            "### Checks",
            "",
            _checks_table(results["panels"]),
            "",
        ]
        notes = sorted({n for p in results["panels"].values() for n in p["theory"].get("notes", [])})
        if notes:
            parts += ["Notes: " + "; ".join(notes), ""]
    if results["multilayer"] is not None:
        m = results["multilayer"]
        parts += [
            f"## Multi-layer ({m['config']['model']}, panel {m['config']['panel']}, n = {m['config']['n']})",
            "",
            _multilayer_table(m),
            "",
        ]
        if m.get("checks"):
            lines = ["| layers | check | result | detail |", "|---:|---|---|---|"]
            lines += [
                f"| {c['n']} | {c['check']} | {'pass' if c['passed'] else 'FAIL'} | {c['detail']} |"
                for c in m["checks"]
            ]
            parts += ["### Checks", "", "\n".join(lines), ""]
        if m.get("notes"):
            parts += ["Notes: " + "; ".join(m["notes"]), ""]
    if results.get("highdim") is not None:
        h = results["highdim"]
        parts += [
            f"## High-dimensional setting (d = {h['d']}, device {h['device']})",
            "",
            f"{h['panel']['title']}; family-default training recipe; seeds in highdim_config.json.",
            "",
            highdim_table(h),
            "",
        ]
    path = Path(out_dir) / "report.md"
    write_atomic(path, "\n".join(parts).encode("utf-8"))
    return path


def _model_rank(model: str) -> int:
    return _MODEL_ORDER.index(model) if model in _MODEL_ORDER else len(_MODEL_ORDER)
