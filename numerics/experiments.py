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
Markdown report are rendered from them by :mod:`numerics.plotting`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .convergence import convergence_status
from .errors import InvalidProblemError
from .problem import Problem
from .references import MODEL_KINDS, class_risk

__all__ = [
    "PanelSpec",
    "PANELS",
    "Figure1Config",
    "MultilayerConfig",
    "run_figure1",
    "run_multilayer",
    "feature_write_ablation",
    "theory_curves",
    "ordering_checks",
]


@dataclass(frozen=True)
class PanelSpec:
    """One two-segment problem family, indexed by n.

    Attributes:
        name: panel letter.
        title: plot title.
        spectrum: "identity", "spread" (λ_j geometrically spaced over a factor 4) or "powerlaw"
            (λ_j ∝ 1/j), both scaled to tr Σ = d.
        far_fraction: share of the n demonstrations in the far segment (the rest is near).
        correlation: C, 2×2.
        query_correlation: c, (far, near).
        noise: σ².
        reversed: True when the far segment is the more correlated one.
        models: model families trained in this panel by default.
    """

    name: str
    title: str
    spectrum: str = "identity"
    far_fraction: float = 0.5
    correlation: tuple = ((1.0, 0.0), (0.0, 1.0))
    query_correlation: tuple = (0.3, 0.9)
    noise: float = 0.0
    reversed: bool = False
    models: tuple = ("linear", "scalar", "scalar-nodelim", "vector")

    def sizes(self, n: int) -> list[int]:
        """Segment sizes (far, near) for n demonstrations, each ≥ 1."""
        far = min(max(int(round(self.far_fraction * n)), 1), n - 1)
        return [far, n - far]

    def problem(self, n: int, d: int) -> Problem:
        """The validated problem at n demonstrations in dimension d."""
        if n < 2:
            raise InvalidProblemError(f"a two-segment panel needs n ≥ 2, got {n}")
        if self.spectrum == "identity":
            sigma = np.eye(d)
        else:
            if self.spectrum == "spread":
                lam = 4.0 ** (np.arange(d) / max(d - 1, 1))
            elif self.spectrum == "powerlaw":
                lam = 1.0 / np.arange(1, d + 1)
            else:
                raise InvalidProblemError(f"unknown spectrum {self.spectrum!r}")
            sigma = np.diag(lam * d / lam.sum())
        return Problem.segmented(sigma, self.sizes(n), list(self.query_correlation),
                                 correlation=[list(r) for r in self.correlation], noise=self.noise)


PANELS = {
    "a": PanelSpec("a", "(a) Σ = I, c = (0.3, 0.9): near segment more correlated"),
    "b": PanelSpec("b", "(b) anisotropic Σ (λ ratio 4), σ² = 0.5, c = (0.3, 0.9)", spectrum="spread",
                   noise=0.5, models=("linear", "scalar", "scalar-nodelim")),
    "c": PanelSpec("c", "(c) correlated tasks C₁₂ = 0.5, c = (0.5, 0.9), far = 3n/4",
                   far_fraction=0.75, correlation=((1.0, 0.5), (0.5, 1.0)), query_correlation=(0.5, 0.9),
                   models=("linear", "scalar", "scalar-nodelim")),
    "d": PanelSpec("d", "(d) reversed: c = (0.9, 0.3)", query_correlation=(0.9, 0.3), reversed=True),
}
"""The Figure-1 panels by letter."""

THEORY_CLASSES = ("linear", "scalar", "geometric", "unconstrained")
"""Classes drawn as dashed curves (the vector optimum depends on the key width: markers only)."""


@dataclass(frozen=True)
class Figure1Config:
    """Settings of the Figure-1 experiment (dumped to ``figure1_config.json`` in the results folder).

    Attributes:
        panels: panel letters.
        d: feature dimension.
        n_values: numbers of demonstrations at which models are trained.
        theory_n: n grid of the dashed theory curves (from, to, step).
        models: model families for every panel; None = each panel's own list: linear, scalar
            and scalar-nodelim everywhere, vector in panels a (where its optimum equals the
            scalar one) and d (where it is the point); 56 runs. Vector runs take 6000 steps and
            cost about half of the CPU time, so panels b and c leave them out to keep the default
            figure under 10 minutes on two CPU cores (``--models`` trains any list everywhere).
        layers: GLA layers.
        train: overrides of :class:`~numerics.training.TrainConfig` fields for every run.
        jobs: training runs in parallel (worker processes, one torch thread each).
        vector_key_width: key width of the vector-gated runs; None = the construction's width
            2d (``gla.default_key_width``), the smallest width whose class contains every WPGD
            predictor of a two-segment prompt (docs/gating.md §4).
        vector_train: extra TrainConfig overrides for the vector-gated runs, applied last. The
            vector family's own defaults (6000 steps, gate bias 3.0, no restarts:
            ``train_config.FAMILY_DEFAULTS``) apply before ``train``, so ``--steps`` changes
            every family.
    """

    panels: tuple = ("a", "b", "c", "d")
    d: int = 10
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
        from .train_config import FAMILY_DEFAULTS

        out = {**FAMILY_DEFAULTS.get(model, {}), **self.train, "model": model, "layers": self.layers,
               "progress": False}
        if model == "vector":
            from .gla import default_key_width

            out.update(self.vector_train)
            out["key_dim"] = self.vector_key_width or default_key_width(self.d, 2)
        return out


@dataclass(frozen=True)
class MultilayerConfig:
    """Settings of the multi-layer experiment (dumped to ``multilayer_config.json``).

    Attributes:
        panel: the panel family to use.
        d: feature dimension.
        n: number of demonstrations.
        model: model family.
        layers: layer counts to train.
        train: TrainConfig overrides. Default: 250 000 final held-out prompts (the control
            variate is the one-layer optimum, less correlated with a multi-layer model's
            errors than with a one-layer model's: at 100 000 prompts the 2- and 3-layer
            intervals were ±0.66% and ±0.67%).
        jobs: parallel training runs.
        reference_seed: seed of the L-step reference fit (``multistep_optimum``).
        tol: relative tolerance of the checks.
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


def _run_one(job: dict) -> dict:
    """Train one run (worker entry point; arguments and result are plain JSON)."""
    import torch

    from .training import CheckpointError, TrainConfig, checkpoint_matches, train

    torch.set_num_threads(1)
    problem = PanelSpec(**job["panel"]).problem(job["n"], job["d"])
    cfg = TrainConfig.from_dict(job["config"])
    ckpt = Path(job["out"]) / "checkpoint.pt"
    if ckpt.exists():
        try:
            stale = not checkpoint_matches(ckpt, cfg, problem)
        except CheckpointError as exc:
            print(f"wpgd experiment: {exc}; starting that run afresh", file=sys.stderr)
            stale = True
        if stale:
            ckpt.unlink()  # a run of other settings: the experiment owns its run folders, start afresh
    res = train(problem, cfg, job["out"], extra_config={"panel": job["panel"]["name"]})
    return res.metrics


def _cached_metrics(job: dict) -> dict | None:
    """metrics.json of a finished run with the same config, else None."""
    out = Path(job["out"])
    try:
        cfg = json.loads((out / "config.json").read_text())["config"]
        metrics = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError, KeyError):
        return None
    same = {k: v for k, v in cfg.items() if k not in ("progress", "checkpoint_every")} == {
        k: v for k, v in job["config"].items() if k not in ("progress", "checkpoint_every")
    }
    return metrics if same else None


def _run_jobs(jobs: list[dict], workers: int, progress: bool, desc: str) -> list[dict]:
    from .fileio import progress_bar

    results: list = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        cached = _cached_metrics(job)
        if cached is not None:
            results[i] = cached
        else:
            todo.append(i)
    bar = progress_bar(len(jobs), desc, enabled=progress, unit="run")
    bar.update(len(jobs) - len(todo))
    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            results[i] = _run_one(jobs[i])
            bar.update(1)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(_run_one, jobs[i]): i for i in todo}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                bar.update(1)
    bar.close()
    return results


def _job(panel: PanelSpec, n: int, d: int, cfg, out: Path) -> dict:
    # the resolved config (derived step budget, learning rate, gate bias), as train() records it
    resolved = cfg.resolved(panel.problem(n, d)).to_dict()
    return {"panel": asdict(panel), "n": int(n), "d": int(d), "config": resolved, "out": str(out)}


def run_figure1(config: Figure1Config, out_dir, *, progress: bool = True) -> dict:
    """Run the Figure-1 experiment; write ``panel_<x>.json`` per panel and ``figure1.json``.

    Args:
        config: experiment settings.
        out_dir: results folder (run folders go to ``out_dir/runs``).
        progress: show progress bars.

    Returns:
        The content of ``figure1.json`` (all panels).
    """
    from .fileio import write_json_atomic

    from .training import TrainConfig

    out = Path(out_dir)
    unknown = sorted(set(config.panels) - set(PANELS))
    if unknown:
        raise InvalidProblemError(f"unknown panel(s) {', '.join(unknown)} (choose from {', '.join(PANELS)})")
    bad = sorted(set(config.models or ()) - set(MODEL_KINDS))
    if bad:
        raise InvalidProblemError(f"unknown model(s) {', '.join(bad)}")
    write_json_atomic(out / "figure1_config.json", config.to_dict())
    t0 = time.perf_counter()
    jobs, keys = [], []
    for p in config.panels:
        for n in config.n_values:
            for m in (config.models or PANELS[p].models):
                cfg = TrainConfig(**config.run_overrides(m))
                jobs.append(_job(PANELS[p], n, config.d, cfg, out / "runs" / p / f"n{n}-{m}"))
                keys.append((p, n, m))
    metrics = _run_jobs(jobs, config.jobs, progress, "figure1 runs")
    lo, hi, step = config.theory_n
    grid = list(range(int(lo), int(hi) + 1, int(step)))
    panels = {}
    for p in config.panels:
        rows = [_row(m_, k) for m_, k in zip(metrics, keys) if k[0] == p]
        panel = {
            "panel": p,
            "title": PANELS[p].title,
            "spec": asdict(PANELS[p]),
            "d": config.d,
            "rows": rows,
            "theory": theory_curves(PANELS[p], config.d, grid),
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


def run_multilayer(config: MultilayerConfig, out_dir, *, progress: bool = True) -> dict:
    """Train 1..L-layer models on one problem and compare them with the WPGD references.

    Two references per row: the one-layer class optimum (closed form; an L-layer model contains
    the one-layer one, so a trained L-layer risk at or below it is the first check) and, for
    L ≥ 2, the L-step WPGD reference :func:`numerics.multistep.multistep_optimum`: the best
    member of the structured causal L-step recursion (the class the multi-layer WPGD
    construction realises exactly) found by sample-average approximation, evaluated on fresh
    prompts with a CI. It is an upper-bound estimate of that class's optimum; the trained
    model's class contains it, so the second check is trained ≤ reference (+``tol``). The theory
    gives no closed-form L-step optimum (docs/multilayer.md).

    Returns:
        The content of ``multilayer.json``.
    """
    from .fileio import write_json_atomic

    from .training import TrainConfig

    if config.panel not in PANELS:
        raise InvalidProblemError(f"unknown panel {config.panel!r}")
    out = Path(out_dir)
    panel = PANELS[config.panel]
    problem = panel.problem(config.n, config.d)
    write_json_atomic(out / "multilayer_config.json", config.to_dict())
    jobs = []
    for L in config.layers:
        cfg = TrainConfig.for_model(config.model, **{**config.train, "layers": int(L), "progress": False})
        jobs.append(_job(panel, config.n, config.d, cfg, out / "runs" / f"L{L}-{config.model}"))
    metrics = _run_jobs(jobs, config.jobs, progress, "multilayer runs")
    primary = MODEL_KINDS[config.model].classes[0]
    one_layer = class_risk(problem, primary).normalized
    notes = []
    rows, checks = [], []
    for L, m in zip(config.layers, metrics):
        multi = _multistep(problem, int(L), config.model, notes, seed=config.reference_seed, progress=progress)
        risk = m["normalized_risk"]
        row = {
            "layers": int(L), "risk": risk, "ci": m["normalized_ci"],
            "rel_ci_halfwidth": m["rel_ci_halfwidth"], "one_layer_optimum": one_layer,
            "gap_one_layer": risk / one_layer - 1,
            "multistep_optimum": None if multi is None else multi["normalized_risk"],
            "multistep_ci": None if multi is None else multi["normalized_ci"],
            "multistep": multi,
            "gap_multistep": None if multi is None else risk / multi["normalized_risk"] - 1,
        }
        if L >= 2:
            row["feature_write_ablation"] = feature_write_ablation(Path(jobs[config.layers.index(L)]["out"]), problem)
        rows.append(row)
        tol = config.tol
        checks.append({"check": f"{L}-layer model within {tol:.0%} of (or below) the 1-layer {primary} optimum",
                       "n": int(L), "passed": row["gap_one_layer"] <= tol if L == 1 else risk <= one_layer * (1 + tol),
                       "detail": f"gap {row['gap_one_layer']:+.2%}"})
        if multi is not None:
            checks.append({"check": f"{L}-layer model at or below the {L}-step WPGD reference (+{tol:.0%})",
                           "n": int(L), "passed": row["gap_multistep"] <= tol,
                           "detail": f"gap {row['gap_multistep']:+.2%}"})
    result = {"config": config.to_dict(), "problem": problem.describe(), "primary": primary,
              "rows": rows, "checks": checks, "notes": sorted(set(notes))}
    write_json_atomic(out / "multilayer.json", result)
    return result


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

    from .evaluation import HeldOutSet, evaluate
    from .prompts import PromptSampler
    from .train_config import build_model
    from .training import TrainConfig, load_checkpoint

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
    from .multistep import GATINGS, multistep_optimum

    if steps == 1:
        return None
    gating = {"linear": "linear", "scalar": "scalar"}.get(model)
    if gating is None or gating not in GATINGS:
        notes.append(f"no L-step WPGD reference for {model!r} models (multistep_optimum covers the linear "
                     "and scalar-with-delimiters recursions)")
        return None
    res = multistep_optimum(problem, steps, gating=gating, seed=seed, progress=progress).to_dict()
    notes.append("L-step reference: numerics.multistep.multistep_optimum (structured causal recursion, type "
                 "gates, spectral preconditioners; SAA fit evaluated on fresh prompts, an upper-bound estimate "
                 "of that class's optimum; docs/multilayer.md)")
    return res


def figure1_overrides(config: Figure1Config, **train) -> Figure1Config:
    """A copy with extra TrainConfig overrides merged in (None values ignored)."""
    return replace(config, train={**config.train, **{k: v for k, v in train.items() if v is not None}})
