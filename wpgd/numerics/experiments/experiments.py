"""Experiment runners: Figure 1 (trained models vs theory over n) and the multi-layer check.

Figure 1. For each panel (a two-segment multitask problem family, docs/theory.md §3) and each number
of demonstrations ``n``, train every model family from random initialisation and evaluate it
on fresh prompts; beside it, compute the theory optima of the classes (linear attention,
scalar gating, fixed decay, vector gating, unconstrained WPGD). Panels:

* ``a`` Σ = I, independent segment tasks, query correlations c = (0.3, 0.9): the near-query
  segment is the more correlated one, so scalar gating (with delimiters) should reach the
  unconstrained optimum;
* ``b`` as ``a`` with an anisotropic Σ (eigenvalues geometrically spaced over a factor 4,
  tr Σ = d) and label noise σ² = 0.5;
* ``c`` correlated segment tasks (C_12 = 0.5), c = (0.5, 0.9), far segment 3/4 of the prompt;
* ``d`` the order reversed, c = (0.9, 0.3): the best non-decreasing weights are uniform, so
  scalar gating should collapse to linear attention and vector gating should do better.

Results are JSON files (one per panel, plus one per training run folder); the figures and the
Markdown report are rendered from them by :mod:`wpgd.numerics.experiments.plotting`.

The training runs of every experiment (also :mod:`wpgd.numerics.experiments.highdim`) go through the sweep
engine (:func:`_run_jobs` → :func:`wpgd.numerics.experiments.sweep.run_tasks`): each run is a task cached by the
hash of its full configuration (its record ``result.json`` in the run folder), run in this
process, on local worker processes or on a Dask cluster.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from wpgd.numerics.core.convergence import convergence_status
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import write_json_atomic
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.references import class_risk
from wpgd.numerics.core.vocabulary import MODEL_KINDS, THEORY_CLASSES
from wpgd.numerics.experiments.panels import PanelSpec
from wpgd.numerics.experiments.sweep import SweepTask, read_record, run_tasks
from wpgd.numerics.experiments.sweep_tasks import execute, task_problem

__all__ = [
    "PanelSpec",
    "PANELS",
    "Figure1Config",
    "MultilayerConfig",
    "MULTILAYER_PANELS",
    "run_figure1",
    "figure1_jobs",
    "multilayer_jobs",
    "unfinished",
    "job_training",
    "spec_panel",
    "run_multilayer",
    "multilayer_train_config",
    "feature_write_ablation",
    "theory_curves",
    "ordering_checks",
]


PANELS = {
    "a": PanelSpec("a", "(a) near segment more correlated"),
    "b": PanelSpec("b", "(b) anisotropic features, noisy labels", spectrum="spread",
                   noise=0.5, models=("linear", "scalar", "scalar-nodelim")),
    "c": PanelSpec("c", "(c) correlated tasks, long far segment",
                   far_fraction=0.75, correlation=((1.0, 0.5), (0.5, 1.0)), query_correlation=(0.5, 0.9),
                   models=("linear", "scalar", "scalar-nodelim")),
    "d": PanelSpec("d", "(d) reversed: far segment more correlated", query_correlation=(0.9, 0.3),
                   reversed=True),
}
"""The Figure-1 panels by letter."""

def spec_panel(problem: Problem, title: str) -> PanelSpec:
    """A Figure-1 panel from a user's segment problem (``wpgd experiment figure1 --spec``).

    The panel's name is ``spec-`` and 8 hex digits of a hash of the problem, so run folders of
    different specs never mix; it is "reversed" (scalar gating expected to collapse to linear
    attention) when the scalar-gating optimum equals the linear one at the spec's own n.

    Raises:
        InvalidProblemError: a dense problem (no segments to scale with n).
    """
    import hashlib

    if not problem.is_segmented:
        raise InvalidProblemError("figure1 --spec needs a segment spec ([tasks] segments): a panel scales the "
                                  "segment sizes with n")
    base = {"sigma": problem.sigma.tolist(), "segments": list(problem.segment_sizes),
            "correlation": problem.segment_correlation.tolist(),
            "query_correlation": problem.query_correlation.tolist(),
            "query_variance": float(problem.query_variance), "noise": float(problem.noise)}
    digest = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()[:8]
    lin, sca = (class_risk(problem, c).normalized for c in ("linear", "scalar"))
    return PanelSpec(f"spec-{digest}", title, query_correlation=tuple(base["query_correlation"]),
                     noise=base["noise"], reversed=bool(abs(sca - lin) <= 1e-9 * lin),
                     models=("linear", "scalar", "scalar-nodelim"), base=base)


MULTILAYER_PANELS = {
    **PANELS,
    "s3": PanelSpec("s3", "(s3) anisotropic Σ (λ ratio 4), three segments, c = (0.2, 0.5, 0.9), σ² = 0.1",
                    spectrum="spread", noise=0.1, fractions=(1.0, 1.0, 1.0),
                    correlation=((1.0, 0.3, 0.0), (0.3, 1.0, 0.3), (0.0, 0.3, 1.0)),
                    query_correlation=(0.2, 0.5, 0.9), models=("scalar",)),
}
"""Problems of the multi-layer experiment: the Figure-1 panels and a three-segment one with Σ ≠ I."""


@dataclass(frozen=True)
class Figure1Config:
    """Settings of the Figure-1 experiment (dumped to ``figure1_config.json`` in the results folder).

    Attributes:
        panels: panel letters (or names of ``custom_panels``).
        d: feature dimension.
        custom_panels: extra panels (:class:`PanelSpec`, e.g. :func:`spec_panel`) by name.
        n_values: numbers of demonstrations at which models are trained.
        theory_n: n grid of the dashed theory curves (from, to, step).
        models: model families for every panel; None = each panel's own list: linear, scalar
            and scalar-nodelim everywhere, vector in panels a (where its optimum equals the
            scalar one) and d (where it is the point); 56 runs. Vector runs take the longest
            (a step budget with a 15× longer transient: 15 500 steps at d = 10) and most of the CPU time, so panels b and
            c leave them out to keep the default
            figure at about 21 minutes on two CPU cores (``--models`` trains any list everywhere).
        layers: GLA layers.
        train: overrides of :class:`~wpgd.numerics.nn.training.TrainConfig` fields for every run.
        jobs: training runs in parallel (worker processes, one torch thread each).
        vector_key_width: key width of the vector-gated runs; None = the vector family's default
            (``train_config.default_key_dim``: twice the construction's 2d, the smallest width
            whose class contains every WPGD predictor of a segmented prompt, docs/gating.md §4;
            the class optimum is the same at both widths, docs/training.md "Vector models").
        vector_train: extra TrainConfig overrides for the vector-gated runs, applied last. The
            vector family's own defaults (signed key groups, key width 4d, no restarts:
            ``train_config.FAMILY_DEFAULTS``) apply before ``train``, so ``--steps`` changes
            every family.
    """

    panels: tuple = ("a", "b", "c", "d")
    d: int = 10
    custom_panels: tuple = ()
    n_values: tuple = (10, 20, 40, 80)
    theory_n: tuple = (10, 80, 2)
    models: tuple | None = None
    layers: int = 1
    train: dict = field(default_factory=dict)
    jobs: int = 2
    vector_key_width: int | None = None
    vector_train: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)

    def run_overrides(self, model: str) -> dict:
        """TrainConfig fields of one model family's runs (family defaults, then ``train``, then
        ``vector_train`` for vector models)."""
        from wpgd.numerics.nn.train_config import FAMILY_DEFAULTS

        out = {**FAMILY_DEFAULTS.get(model, {}), **self.train, "model": model, "layers": self.layers,
               "progress": False}
        if model == "vector":
            out.update(self.vector_train)
            if self.vector_key_width is not None:
                out["key_dim"] = self.vector_key_width
        return out


@dataclass(frozen=True)
class MultilayerConfig:
    """Settings of the multi-layer experiment (dumped to ``multilayer_config.json``).

    Attributes:
        panel: the problem family (:data:`MULTILAYER_PANELS`: the Figure-1 panels and "s3").
        d: feature dimension.
        n: number of demonstrations.
        model: model family.
        layers: layer counts to train.
        train: TrainConfig overrides. Default: 250 000 final held-out prompts (the control
            variate is the one-layer optimum, less correlated with a multi-layer model's
            errors than with a one-layer model's: at 100 000 prompts the 2- and 3-layer
            intervals were ±0.66% and ±0.67%).
        jobs: parallel training runs.
        reference_seed: seed of the class fits (``gdpp_optimum``, ``multistep_optimum``).
        tol: tolerance of the two-sided check |trained / theory − 1| ≤ tol.
        theory_prompts: N, the SAA sample of the class fit.
        theory_restarts: starts of the class fit.
        recursion_reference: also fit the structured recursion (6.1) (labels only), for comparison.
        gdpp_reference: also fit the gated GD++ class without the label rescaling (one shared
            delimiter gate per layer: the class before issue 17's L = 3 finding), for comparison.
    """

    panel: str = "a"
    d: int = 10
    n: int = 20
    model: str = "scalar"
    layers: tuple = (1, 2, 3)
    train: dict = field(default_factory=lambda: {"final_prompts": 250_000})
    jobs: int = 1
    reference_seed: int = 0
    tol: float = 0.03
    theory_prompts: int = 8192
    theory_restarts: int = 3
    recursion_reference: bool = True
    gdpp_reference: bool = True

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)


def theory_curves(panel: PanelSpec, d: int, n_grid, classes=THEORY_CLASSES) -> dict:
    """Normalised theory optima over an n grid.

    Returns:
        {"n": [...], class: [normalised risk or None, ...], "notes": [...]} (None where the class
        module is unavailable).
    """
    out = {"n": [int(n) for n in n_grid], "notes": []}
    for cls in classes:
        vals = []
        for n in n_grid:
            try:
                vals.append(class_risk(panel.problem(int(n), d), cls).normalized)
            except ImportError as exc:
                vals.append(None)
                if not any(s.startswith(cls) for s in out["notes"]):
                    out["notes"].append(f"{cls}: {exc}")
        out[cls] = vals
    return out


def _run_jobs(jobs: list[dict], workers: int, progress: bool, desc: str, *,
              scheduler: str = "local") -> list[dict]:
    """Run training jobs on the sweep engine (:mod:`wpgd.numerics.experiments.sweep`); returns their metrics in order.

    Each job is one task (``wpgd.numerics.experiments.sweep_tasks.train_task``) whose record ``result.json`` sits in
    its run folder, keyed by the hash of the job's full configuration: a finished run with the
    same settings is reused, a run folder holding a run of other settings is retrained.

    Raises:
        InvalidProblemError: a run failed (the others are kept; rerunning retries it).
    """

    tasks = [_task(job) for job in jobs]
    outcome = run_tasks(tasks, execute, scheduler=scheduler, workers=max(1, int(workers)), progress=progress,
                        desc=desc)
    if outcome.errors:
        key, msg = next(iter(outcome.errors.items()))
        where = next(t.run_dir for t in tasks if t.key == key)
        raise InvalidProblemError(f"{len(outcome.errors)} training run(s) failed; {where}: {msg}")
    return [outcome.results[t.key] for t in tasks]


def _task(job: dict) -> SweepTask:
    """The sweep task of a training job: keyed by everything but its folder, recorded in it."""
    return SweepTask.make({"kind": "train", **{k: v for k, v in job.items() if k != "out"}},
                          Path(job["out"]) / "result.json", job["out"])


def unfinished(jobs: list[dict]) -> list[dict]:
    """The jobs without a finished record of the same settings (the ones :func:`_run_jobs` would train)."""
    return [job for job in jobs if read_record(_task(job)) is None]


def job_training(job: dict) -> tuple:
    """``(problem, resolved TrainConfig)`` of a training job, for the resource guards."""
    from wpgd.numerics.nn.train_config import TrainConfig

    return task_problem(job), TrainConfig.from_dict(job["config"])


def _job(panel: PanelSpec, n: int, d: int, cfg, out: Path) -> dict:
    # the resolved config (derived step budget, learning rate, gate bias), as train() records it
    resolved = cfg.resolved(panel.problem(n, d)).to_dict()
    return {"panel": asdict(panel), "n": int(n), "d": int(d), "config": resolved, "out": str(out)}


def figure1_jobs(config: Figure1Config, out: Path) -> tuple[list[dict], list[tuple]]:
    """The training jobs of a Figure-1 run into ``out`` and their keys ``(panel, n, model)``.

    Raises:
        InvalidProblemError: an unknown panel or model.
    """
    from wpgd.numerics.nn.training import TrainConfig

    known = {**PANELS, **{cp.name: cp for cp in config.custom_panels}}
    unknown = sorted(set(config.panels) - set(known))
    if unknown:
        raise InvalidProblemError(f"unknown panel(s) {', '.join(unknown)} (choose from {', '.join(known)})")
    bad = sorted(set(config.models or ()) - set(MODEL_KINDS))
    if bad:
        raise InvalidProblemError(f"unknown model(s) {', '.join(bad)}")
    jobs, keys = [], []
    for p in config.panels:
        for n in config.n_values:
            for m in (config.models or known[p].models):
                cfg = TrainConfig(**config.run_overrides(m))
                jobs.append(_job(known[p], n, config.d, cfg, Path(out) / "runs" / p / f"n{n}-{m}"))
                keys.append((p, n, m))
    return jobs, keys


def run_figure1(config: Figure1Config, out_dir, *, progress: bool = True, scheduler: str = "local") -> dict:
    """Run the Figure-1 experiment; write ``panel_<x>.json`` per panel and ``figure1.json``.

    Args:
        config: experiment settings.
        out_dir: results folder (run folders go to ``out_dir/runs``).
        progress: show progress bars.
        scheduler: where the training runs go: "local" (``config.jobs`` worker processes) or a
            Dask scheduler address (:func:`wpgd.numerics.experiments.sweep.run_tasks`).

    Returns:
        The content of ``figure1.json`` (all panels).
    """
    out = Path(out_dir)
    known = {**PANELS, **{cp.name: cp for cp in config.custom_panels}}
    jobs, keys = figure1_jobs(config, out)
    write_json_atomic(out / "figure1_config.json", config.to_dict())
    t0 = time.perf_counter()
    metrics = _run_jobs(jobs, config.jobs, progress, "figure1 runs", scheduler=scheduler)
    lo, hi, step = config.theory_n
    grid = list(range(int(lo), int(hi) + 1, int(step)))
    panels = {}
    for p in config.panels:
        rows = [_row(m_, k) for m_, k in zip(metrics, keys) if k[0] == p]
        panel = {
            "panel": p,
            "title": known[p].title,
            "spec": asdict(known[p]),
            "d": config.d,
            "rows": rows,
            "theory": theory_curves(known[p], config.d, grid),
        }
        panel["checks"] = ordering_checks(panel)
        write_json_atomic(out / f"panel_{p}.json", panel)
        panels[p] = panel
    summary = {"config": config.to_dict(), "panels": panels, "seconds": time.perf_counter() - t0}
    write_json_atomic(out / "figure1.json", summary)
    return summary


def _row(metrics: dict, key) -> dict:
    p, n, m = key
    refs = {r["class"]: r for r in metrics.get("references", [])}
    return {
        "model": m,
        "n": n,
        "layers": metrics.get("layers"),
        "key_dim": metrics.get("key_dim"),
        "risk": metrics["normalized_risk"],
        "ci": metrics["normalized_ci"],
        "rel_ci_halfwidth": metrics["rel_ci_halfwidth"],
        "plain_risk": metrics["plain"]["normalized"],
        "plain_rel_ci_halfwidth": metrics["plain"]["rel_halfwidth"],
        "estimator": metrics["estimator"],
        "references": {c: {"risk": r["normalized_risk"], "gap": r["gap"], "label": r["label"]} for c, r in refs.items()},
        "primary": MODEL_KINDS[m].classes[0],
        "train_seconds": metrics.get("train_seconds"),
        "status": convergence_status(metrics)["status"],
    }


def ordering_checks(panel: dict, tol: float = 0.03) -> list[dict]:
    """Acceptance checks of one panel: gaps to the class optimum and the expected orderings.

    Args:
        panel: a panel result (``rows`` as written by :func:`run_figure1`).
        tol: relative tolerance of "lands on" / "equals".

    Returns:
        list of {"check", "n", "passed", "detail"}.
    """
    checks = []
    by = {(r["n"], r["model"]): r for r in panel["rows"]}
    reversed_ = bool(panel["spec"].get("reversed"))
    for r in panel["rows"]:
        if r["model"] == "scalar-nodelim":
            continue
        ref = r["references"].get(r["primary"])
        if ref is None:
            continue
        checks.append({
            "check": f"{r['model']} within {tol:.0%} of its {r['primary']} optimum", "n": r["n"],
            "passed": ref["gap"] <= tol, "detail": f"gap {ref['gap']:+.2%}",
        })
    for n in sorted({r["n"] for r in panel["rows"]}):
        lin, sca, vec = by.get((n, "linear")), by.get((n, "scalar")), by.get((n, "vector"))
        nod = by.get((n, "scalar-nodelim"))
        if lin and sca and not reversed_:
            checks.append({"check": "scalar (delimiters) below linear", "n": n,
                           "passed": sca["risk"] < lin["risk"], "detail": f"{sca['risk']:.4f} < {lin['risk']:.4f}"})
        if lin and sca and reversed_:
            rel = sca["risk"] / lin["risk"] - 1
            checks.append({"check": f"scalar collapses to linear (within {tol:.0%})", "n": n,
                           "passed": abs(rel) <= tol, "detail": f"scalar/linear − 1 = {rel:+.2%}"})
        if vec and sca and reversed_:
            checks.append({"check": "vector below scalar", "n": n, "passed": vec["risk"] < sca["risk"],
                           "detail": f"{vec['risk']:.4f} < {sca['risk']:.4f}"})
        if nod and "geometric" in nod["references"]:
            g = nod["references"]["geometric"]
            checks.append({"check": "scalar-nodelim at or below the fixed-decay line (+tol)", "n": n,
                           "passed": g["gap"] <= tol, "detail": f"gap to fixed decay {g['gap']:+.2%}"})
    return checks


def multilayer_jobs(config: MultilayerConfig, out: Path) -> list[dict]:
    """The training jobs of a multilayer run into ``out``, one per L in ``config.layers``.

    Raises:
        InvalidProblemError: an unknown panel.
    """
    if config.panel not in MULTILAYER_PANELS:
        raise InvalidProblemError(f"unknown panel {config.panel!r} (one of {', '.join(MULTILAYER_PANELS)})")
    panel = MULTILAYER_PANELS[config.panel]
    problem = panel.problem(config.n, config.d)
    return [_job(panel, config.n, config.d, multilayer_train_config(config, problem, int(L)),
                 Path(out) / "runs" / f"L{L}-{config.model}") for L in config.layers]


def run_multilayer(config: MultilayerConfig, out_dir, *, progress: bool = True, scheduler: str = "local") -> dict:
    """Train 1..L-layer models on one problem and compare them with the L-step class optimum.

    The theory for every L is the optimum of the gated GD++ class with label rescaling
    (:func:`wpgd.numerics.nn.gdpp_optimum.gdpp_optimum`: label and feature writes and the delimiter's gated
    label rescaling, the class one GLA head realises with type gates, one delimiter gate and
    coefficient per boundary; docs/multilayer.md), an out-of-sample estimate with a 95% CI. The
    check is two-sided: ``|gap_theory| = |trained / theory − 1| ≤ tol``. Beside it each row
    keeps the one-layer class optimum (closed form; the first check for L = 1), the gated GD++
    optimum without the rescaling (``gdpp_optimum``, ``gap_gdpp``), the structured
    recursion's fit (6.1) (``multistep_optimum``, labels only) for comparison, and for L ≥ 2 the
    trained model's ablations and weight blocks (:mod:`wpgd.numerics.nn.multilayer_probe`). The runs go to ``scheduler`` as in
    :func:`run_figure1`. Without ``steps`` in ``config.train`` an L-layer run trains for the budget derived
    for L layers (:func:`multilayer_train_config`); each row records ``steps`` and ``steps_rule``.

    Returns:
        The content of ``multilayer.json``.
    """
    out = Path(out_dir)
    jobs = multilayer_jobs(config, out)
    problem = MULTILAYER_PANELS[config.panel].problem(config.n, config.d)
    write_json_atomic(out / "multilayer_config.json", config.to_dict())
    metrics = _run_jobs(jobs, config.jobs, progress, "multilayer runs", scheduler=scheduler)
    primary = MODEL_KINDS[config.model].classes[0]
    one_layer = class_risk(problem, primary).normalized
    notes, rows, checks = [], [], []
    for L, m, job in zip(config.layers, metrics, jobs):
        row = _multilayer_row(problem, int(L), m, one_layer, config, notes, progress)
        row["steps"], row["steps_rule"] = job["config"]["steps"], job["config"]["steps_rule"]
        if L >= 2:
            from wpgd.numerics.nn.multilayer_probe import (
                ablations,
                gate_profile,
                load_run_model,
                weight_blocks,
            )

            row["ablations"] = ablations(Path(job["out"]), problem)
            row["feature_write_ablation"] = _legacy_ablation(row["ablations"])
            model, sampler, _ = load_run_model(Path(job["out"]), problem)
            row["weight_blocks"] = weight_blocks(model, problem.d)
            row["gates"] = gate_profile(model, sampler)
        rows.append(row)
        checks += _multilayer_checks(row, primary, config.tol)
    result = {"config": config.to_dict(), "problem": problem.describe(), "primary": primary,
              "rows": rows, "checks": checks, "notes": sorted(set(notes))}
    write_json_atomic(out / "multilayer.json", result)
    return result


def multilayer_train_config(config: MultilayerConfig, problem: Problem, layers: int):
    """The TrainConfig of the experiment's L-layer run: ``config.train`` over the family defaults,
    with the step budget derived for L layers
    (:func:`wpgd.numerics.nn.multilayer_budget.layer_step_budget`) unless ``steps`` is given."""
    from wpgd.numerics.nn.multilayer_budget import layer_step_budget
    from wpgd.numerics.nn.training import TrainConfig

    cfg = TrainConfig.for_model(config.model, **{**config.train, "layers": int(layers), "progress": False})
    if cfg.steps is None:
        steps, note = layer_step_budget(cfg.model, problem.d, problem.num_segments or 1, cfg.batch_size, int(layers))
        cfg = replace(cfg, steps=steps, steps_rule=note)
    return cfg


def _multilayer_row(problem: Problem, L: int, m: dict, one_layer: float, config: MultilayerConfig, notes: list,
                    progress: bool) -> dict:
    """One row: the trained risk, the class optimum (theory), the references and the gaps."""
    from wpgd.numerics.nn.gdpp_optimum import gdpp_optimum

    risk = m["normalized_risk"]
    theory = gdpp = None
    if config.model == "scalar":
        fit = dict(train_prompts=config.theory_prompts, restarts=config.theory_restarts, seed=config.reference_seed,
                   progress=progress)
        theory = gdpp_optimum(problem, L, **fit)
        if config.gdpp_reference and L >= 2:
            gdpp = gdpp_optimum(problem, L, label_rescale=False, codes="flag", **fit)
    else:
        notes.append(f"no gated GD++ class fit for {config.model!r} models (the class is the scalar GLA with "
                     "delimiter-flag gates)")
    multi = _multistep(problem, L, config.model, notes, seed=config.reference_seed,
                       progress=progress) if config.recursion_reference else None
    return {
        "layers": L, "risk": risk, "ci": m["normalized_ci"], "rel_ci_halfwidth": m["rel_ci_halfwidth"],
        "one_layer_optimum": one_layer, "gap_one_layer": risk / one_layer - 1,
        "theory": None if theory is None else theory["normalized_risk"],
        "theory_ci": None if theory is None else theory["normalized_ci"],
        "theory_class": None if theory is None else theory["class"],
        "gap_theory": None if theory is None else risk / theory["normalized_risk"] - 1,
        "theory_fit": theory,
        "gdpp_optimum": None if gdpp is None else gdpp["normalized_risk"],
        "gdpp_ci": None if gdpp is None else gdpp["normalized_ci"],
        "gdpp_class": None if gdpp is None else gdpp["class"],
        "gap_gdpp": None if gdpp is None else risk / gdpp["normalized_risk"] - 1,
        "gdpp_fit": gdpp,
        "multistep_optimum": None if multi is None else multi["normalized_risk"],
        "multistep_ci": None if multi is None else multi["normalized_ci"],
        "multistep": multi,
        "gap_multistep": None if multi is None else risk / multi["normalized_risk"] - 1,
    }


def _multilayer_checks(row: dict, primary: str, tol: float) -> list[dict]:
    """The one-layer check and the two-sided check against the class optimum."""
    L, risk, one = row["layers"], row["risk"], row["one_layer_optimum"]
    out = [{"check": f"{L}-layer model within {tol:.0%} of (or below) the 1-layer {primary} optimum",
            "n": L, "passed": row["gap_one_layer"] <= tol if L == 1 else risk <= one * (1 + tol),
            "detail": f"gap {row['gap_one_layer']:+.2%}"}]
    if row["theory"] is not None:
        out.append({"check": f"{L}-layer model within ±{tol:.0%} of the {L}-step optimum of the "
                             f"{row['theory_class']} class",
                    "n": L, "passed": abs(row["gap_theory"]) <= tol,
                    "detail": f"trained {risk:.4f}, theory {row['theory']:.4f} "
                              f"[{row['theory_ci'][0]:.4f}, {row['theory_ci'][1]:.4f}], gap {row['gap_theory']:+.2%}"})
    return out


def _legacy_ablation(abl: dict) -> dict:
    """The feature-write ablation in the layout of earlier multilayer.json files (plotting reads it)."""
    return {"risk": abl["trained"]["risk"], "ci": abl["trained"]["ci"], "ablated_risk": abl["feature_write"]["risk"],
            "ablated_ci": abl["feature_write"]["ci"], "prompts": abl["prompts"]}


def feature_write_ablation(run_dir, problem: Problem, *, prompts: int = 20_000, seed: int = 12345) -> dict:
    """How much a trained multi-layer model relies on rewriting the feature channels.

    The WPGD recursion keeps every token's features fixed and only updates the label channel;
    a GLA with free projections can also write into the feature coordinates ``z[:d]`` in the
    layers below the last (the preconditioning of the data that Ahn et al. (2023) found in
    trained multi-layer linear transformers). This evaluates the run's final model on
    ``prompts`` fresh prompts twice: as trained, and with the value-projection rows that write
    the feature channels zeroed in every layer but the last (plain means with 95% bootstrap
    intervals; the same prompts for both).

    Args:
        run_dir: a finished training run folder (``checkpoint.pt``).
        problem: the run's problem.
        prompts, seed: the evaluation set.

    Returns:
        {"risk", "ci", "ablated_risk", "ablated_ci", "prompts"} (normalised risks).
    """
    import torch

    from wpgd.numerics.nn.evaluation import HeldOutSet, evaluate
    from wpgd.numerics.nn.prompts import PromptSampler
    from wpgd.numerics.nn.train_config import build_model
    from wpgd.numerics.nn.training import TrainConfig, load_checkpoint

    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    cfg = TrainConfig.from_dict(state["config"])
    sampler = PromptSampler(problem, cfg.prompt_format_for(problem), dtype=cfg.torch_dtype, device=cfg.device)
    w_q = state["model"]["layers.0.W_q"]
    model = build_model(cfg, sampler.token_dim, int(w_q.shape[0] * w_q.shape[1]))
    model.load_state_dict(state["model"])
    heldout = HeldOutSet(sampler, prompts, seed)
    full, _ = evaluate(model, heldout)
    with torch.no_grad():
        for layer in model.layers[:-1]:
            layer.W_v[:, : problem.d, :] = 0.0
    ablated, _ = evaluate(model, heldout)
    nr = problem.null_risk
    return {"risk": full.normalized, "ci": [full.ci_low / nr, full.ci_high / nr],
            "ablated_risk": ablated.normalized, "ablated_ci": [ablated.ci_low / nr, ablated.ci_high / nr],
            "prompts": int(prompts)}


def _multistep(problem: Problem, steps: int, model: str, notes: list, seed: int = 0,
               progress: bool = False) -> dict | None:
    """The L-step WPGD reference as a JSON dict (None for L = 1, where the closed-form one-layer
    optimum is the reference, or when the family has no structured recursion)."""
    from wpgd.numerics.nn.multistep import GATINGS, multistep_optimum

    if steps == 1:
        return None
    gating = model if model in GATINGS else None  # the families "linear" and "scalar" are the classes
    if gating is None:
        notes.append(f"no L-step WPGD reference for {model!r} models (multistep_optimum covers the linear "
                     "and scalar-with-delimiters recursions)")
        return None
    res = multistep_optimum(problem, steps, gating=gating, seed=seed, progress=progress).to_dict()
    notes.append("L-step reference: wpgd.numerics.nn.multistep.multistep_optimum (structured causal recursion, type "
                 "gates, spectral preconditioners; SAA fit evaluated on fresh prompts, an upper-bound estimate "
                 "of that class's optimum; docs/multilayer.md)")
    return res

