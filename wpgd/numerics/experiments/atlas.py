"""The architecture atlas (``wpgd atlas``): what each published gated architecture can reach on one prompt.

For every architecture of the registry (RetNet, Mamba2, GLA, RWKV-6, mLSTM, DeltaNet, Gated DeltaNet)
one row holds

* the **theory**: the optimum of the WPGD class the architecture realises under the paper's
  one-layer construction (:func:`wpgd.numerics.core.atlas.architecture_optimum`; docs/atlas/), its
  normalised risk and its gaps to the two reference rows, linear attention (ω ∝ 1) and
  unconstrained WPGD (ω ∈ Rⁿ): ``gap = optimum / reference − 1``. The delta-rule models have no
  WPGD form: their rows have no theory and say so;
* the **trained** one-layer model of that architecture (:func:`wpgd.numerics.nn.arch.train_architecture`),
  its normalised risk on fresh prompts with a 95% CI, ``gap_theory = trained / optimum − 1`` and a
  verdict with a stated two-sided tolerance ``tol`` (default 3%):

  ========================  ===============================================================
  ``landed``                ``|gap_theory| ≤ tol``
  ``above class``           ``gap_theory > tol``: the model did not reach its class optimum
  ``below class``           ``gap_theory < −tol``: the model beat the optimum of the class
                            the theory says it realises — a finding (the model computes
                            something outside that class), never reported as landed
  ``trained only``          no WPGD form (delta rule): no verdict
  ========================  ===============================================================

Risks are normalised by ``r_q tr Σ + σ²`` (1 = predicting zero).

Output (one folder, written as one set by :func:`wpgd.numerics.core.fileio.write_output_set`: readers
see the old set or the new one, never a mix): ``atlas.json`` (the result), ``atlas_config.json``
(the settings and the problem), ``atlas.txt`` (the table), ``atlas.<format>`` (the figure, drawn
from ``atlas.json`` by :mod:`wpgd.numerics.experiments.atlas_plot`) and ``atlas_trained.json`` (every
finished training row, keyed by the hash of everything that determines it). The set is written
after the theory rows and again after every trained row, so an interrupted run keeps its finished
rows and a rerun with the same settings does not retrain them (rows of other settings stay in
``atlas_trained.json`` too: switching settings back reuses them).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from wpgd._version import __version__
from wpgd.numerics.core.atlas import REFERENCE_ROWS, architecture_optimum
from wpgd.numerics.core.classes import class_optimum
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import SET_MARKER, write_output_set
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.results import json_clean
from wpgd.numerics.core.vocabulary import ARCHITECTURES, ATLAS_CONTEXTS
from wpgd.numerics.experiments.atlas_plot import atlas_table, figure_files
from wpgd.numerics.experiments.figstyle import check_formats

__all__ = [
    "AtlasConfig",
    "RESULT_FILE",
    "CONFIG_FILE",
    "TRAINED_FILE",
    "TABLE_FILE",
    "FIGURE_STEM",
    "run_atlas",
    "assemble",
    "verdict",
    "row_key",
    "load_result",
    "replot",
]


RESULT_FILE, CONFIG_FILE, TRAINED_FILE, TABLE_FILE = "atlas.json", "atlas_config.json", "atlas_trained.json", "atlas.txt"
FIGURE_STEM = "atlas"

TRAINED_ONLY = "no WPGD form (delta-rule state update, data-dependent through x): trained only"


@dataclass(frozen=True)
class AtlasConfig:
    """Settings of one atlas (dumped to ``atlas_config.json``).

    Attributes:
        context: prompt format, "none" (the paper's) or "onehot" (every demonstration carries its
            segment one-hot).
        theory_only: skip training (no trained columns).
        architectures: the rows, in the registry's order (default: all).
        steps: optimiser steps of every training run (None: the trainer's budget rule, recorded per row).
        seed: training seed of every run.
        device: torch device of the training runs ("cpu" or "cuda"; resolved by the caller).
        eval_prompts: fresh prompts of each final evaluation (None: the trainer's default).
        tolerance: the two-sided landing tolerance on gap_theory.
        heads: heads of the theory rows (docs/theory.md §8.3: one P, summed read-out); the trained
            models are one-head layers, so ``heads > 1`` needs ``theory_only``.
    """

    context: str = "none"
    theory_only: bool = False
    architectures: tuple = ()
    steps: int | None = None
    seed: int = 0
    device: str = "cpu"
    eval_prompts: int | None = None
    tolerance: float = 0.03
    heads: int = 1

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)

    def names(self) -> tuple[str, ...]:
        """The requested architectures in the registry's order (all when none are named).

        Raises:
            InvalidProblemError: an unknown name, an unknown context or a tolerance outside (0, 1).
        """
        registry = ARCHITECTURES
        unknown = [a for a in self.architectures if a not in registry]
        if unknown:
            raise InvalidProblemError(f"unknown architecture(s) {', '.join(map(repr, unknown))} "
                                      f"(choose from {', '.join(registry)})")
        if self.context not in ATLAS_CONTEXTS:
            raise InvalidProblemError(f"context must be one of {', '.join(ATLAS_CONTEXTS)}, got {self.context!r}")
        if not 0 < self.tolerance < 1:
            raise InvalidProblemError(f"the landing tolerance must be in (0, 1), got {self.tolerance!r}")
        if self.heads != 1 and not self.theory_only:
            raise InvalidProblemError(f"heads = {self.heads} applies to the theory rows only (the trained models are "
                                      "one-head layers): add --theory-only, or drop --heads")
        wanted = set(self.architectures) or set(registry)
        return tuple(a for a in registry if a in wanted)


def verdict(gap_theory: float | None, tol: float) -> str:
    """The verdict of a trained row from ``gap_theory = trained / optimum − 1`` (None: no WPGD form).

    >>> [verdict(g, 0.03) for g in (0.01, -0.029, 0.05, -0.05, None)]
    ['landed', 'landed', 'above class', 'below class', 'trained only']
    """
    if gap_theory is None:
        return "trained only"
    if gap_theory > tol:
        return "above class"
    if gap_theory < -tol:
        return "below class"
    return "landed"


def problem_fingerprint(problem: Problem) -> dict:
    """Everything that defines the problem (Σ, the task structure, noise), as JSON."""
    out = {**problem.describe(), "sigma": problem.sigma.tolist()}
    if problem.task_matrix is not None:
        out["task_matrix"] = problem.task_matrix.tolist()
    return json_clean(out)


def row_key(problem: Problem, name: str, config: AtlasConfig) -> str:
    """The hash of everything that determines one trained row (the toolkit's version, problem,
    architecture, context, steps, seed, device, evaluation size); the tolerance is not part of it
    (verdicts are recomputed). Code changes within one version are not seen: use a new folder."""
    what = {"version": __version__, "problem": problem_fingerprint(problem), "name": name, "context": config.context,
            "steps": config.steps, "seed": config.seed, "device": config.device,
            "eval_prompts": config.eval_prompts}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _theory_rows(problem: Problem, names, config: AtlasConfig, theory_fn) -> tuple[dict, dict, dict]:
    """(architecture rows, reference rows, name → the ClassOptimum of each WPGD architecture)."""
    refs, optima = {}, {}
    for cls in REFERENCE_ROWS:
        opt = class_optimum(problem, cls)
        refs[cls] = {"name": cls, "kind": "reference", "label": opt.label, "class": cls,
                     "normalized_risk": float(opt.normalized_risk), "risk": float(opt.risk),
                     "status": opt.status}
    registry = ARCHITECTURES
    rows = {}
    for name in names:
        arch = registry[name]
        row = {"name": name, "kind": "architecture", "label": arch.label, "reference": arch.reference,
               "wpgd_form": bool(arch.wpgd_form), "gating": arch.gating}
        if arch.wpgd_form:
            extra = {} if config.heads == 1 else {"heads": config.heads}
            opt = optima[name] = theory_fn(problem, name, context=config.context, **extra)
            details = json_clean(dict(opt.details))
            row.update({"class": details.get("realised_class"), "class_label": opt.label,
                        "closure": details.get("closure"), "normalized_risk": float(opt.normalized_risk),
                        "risk": float(opt.risk), "status": opt.status, "details": details})
        else:
            row.update({"class": None, "class_label": TRAINED_ONLY, "closure": None, "normalized_risk": None,
                        "risk": None, "status": "no_wpgd_form", "details": {}})
        rows[name] = row
    return rows, refs, optima


def _gap(a, b):
    return None if a is None or b is None else float(a) / float(b) - 1.0


def assemble(theory: dict, references: dict, trained: dict, *, problem: Problem, config: AtlasConfig,
             keys: dict, spec: str | None = None, seconds: float = 0.0) -> dict:
    """The content of ``atlas.json`` from the theory rows, the reference rows and the finished trained
    rows (``trained``: key → trained record; ``keys``: architecture → its key for this config).

    Every gap and verdict is computed here, from the stored numbers, so that a changed tolerance
    re-judges cached rows without retraining.
    """
    lin, unc = (references[c]["normalized_risk"] for c in REFERENCE_ROWS)
    rows, pending, not_landed, below = {}, [], [], []
    for name, th in theory.items():
        row = dict(th)
        row["gap_unconstrained"] = _gap(th["normalized_risk"], unc)
        row["gap_linear"] = _gap(th["normalized_risk"], lin)
        rec = None if config.theory_only else trained.get(keys.get(name, ""))
        if rec is not None:
            t = dict(rec)
            t["gap_theory"] = _gap(t["normalized_risk"], th["normalized_risk"])
            t["gap_unconstrained"] = _gap(t["normalized_risk"], unc)
            t["gap_linear"] = _gap(t["normalized_risk"], lin)
            t["verdict"] = verdict(t["gap_theory"], config.tolerance)
            t["landed"] = None if t["gap_theory"] is None else t["verdict"] == "landed"
            if t["landed"] is False:
                not_landed.append(name)
            if t["verdict"] == "below class":
                below.append(name)
            rec = t
        elif not config.theory_only:
            pending.append(name)
        row["trained"] = rec
        rows[name] = row
    for cls, ref in references.items():
        rows[cls] = {**ref, "gap_unconstrained": _gap(ref["normalized_risk"], unc),
                     "gap_linear": _gap(ref["normalized_risk"], lin), "trained": None}
    return json_clean({
        "command": "atlas",
        "spec": spec,
        "problem": problem.describe(),
        "context": config.context,
        "heads": config.heads,
        "theory_only": config.theory_only,
        "tolerance": config.tolerance,
        "architectures": list(theory),
        "references": list(references),
        "rows": rows,
        "complete": not pending,
        "pending": pending,
        "not_landed": not_landed,
        "below_class": below,
        "normalisation": "risk / (r_q tr Σ + σ²): 1 = predicting zero",
        "gap_definitions": {
            "gap_unconstrained": "normalised risk / unconstrained WPGD optimum − 1",
            "gap_linear": "normalised risk / linear-attention optimum − 1",
            "gap_theory": "trained / class optimum − 1; landed iff |gap_theory| ≤ tolerance",
        },
        "seconds": seconds,
    })


def load_result(folder) -> dict:
    """``atlas.json`` of a results folder.

    Raises:
        InvalidProblemError: no readable atlas result there.
    """
    path = Path(folder) / RESULT_FILE
    if not path.is_file():
        raise InvalidProblemError(f"{str(folder)!r} holds no {RESULT_FILE} (write one with wpgd atlas --out)")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidProblemError(f"{str(path)!r} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(result, dict) or result.get("command") != "atlas" or not isinstance(result.get("rows"), dict):
        raise InvalidProblemError(f"{str(path)!r} is not an atlas result")
    return result


def _load_trained(folder: Path) -> dict:
    """The finished training rows of an earlier set in ``folder`` (empty when none or unreadable)."""
    path = folder / TRAINED_FILE
    if not (folder / SET_MARKER).is_file() or not path.is_file():
        return {}
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("rows", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in rows.items() if isinstance(v, dict) and "normalized_risk" in v}


def _write(out: Path, result: dict, config_dump: dict, trained: dict, formats) -> None:
    raw = figure_files(result, formats)
    raw[TABLE_FILE] = (atlas_table(result) + "\n").encode("utf-8")
    write_output_set(out, jsons={RESULT_FILE: result, CONFIG_FILE: config_dump,
                                 TRAINED_FILE: {"rows": trained}}, raw=raw)


def _trained_record(res, key: str, seconds: float) -> dict:
    full = json_clean(res.to_dict())
    return {"key": key, "normalized_risk": float(res.normalized_risk), "ci": [float(res.ci_low), float(res.ci_high)],
            "risk": float(res.risk), "steps": int(res.steps), "seed": int(res.seed), "status": res.status,
            "converged": bool(res.converged), "message": res.message, "budget_note": res.budget_note,
            "seconds": seconds, "result": full}


def run_atlas(problem: Problem, config: AtlasConfig, out_dir=None, *, spec: str | None = None,
              formats=("png",), progress: bool = False, log: Callable[[str], None] | None = None,
              theory_fn: Callable | None = None, trainer: Callable | None = None) -> dict:
    """Compute the atlas of ``problem``: theory rows, then (unless ``config.theory_only``) one trained
    one-layer model per architecture; write the result set into ``out_dir`` (None: nothing written).

    Args:
        problem: the user's problem.
        config: the settings.
        out_dir: results folder (an earlier atlas set there is replaced, its finished rows reused).
        spec: the spec file's path, recorded in the result.
        formats: figure formats written with the set.
        progress: progress bars of the training runs (stderr).
        log: receives one line per step of the run (the CLI prints them on stderr).
        theory_fn: ``architecture_optimum(problem, name, *, context)`` (default: the library's;
            tests inject a double).
        trainer: ``train_architecture(problem, name, *, steps, seed, device, context, eval_prompts,
            progress, theory)`` (default: the library's; tests inject a double); ``theory`` is the row's
            class optimum (None without a WPGD form), the trainer's control variate and reference.

    Returns:
        The content of ``atlas.json``.

    Raises:
        InvalidProblemError: bad settings, or an output folder holding other files (refused before
            any training).
    """
    t0 = time.perf_counter()
    names = config.names()
    formats = check_formats(formats)
    say = log or (lambda msg: None)
    if theory_fn is None:
        theory_fn = architecture_optimum
    theory, refs, optima = _theory_rows(problem, names, config, theory_fn)
    if not config.theory_only:
        say(f"theory: {len(theory)} architecture rows and {len(refs)} reference rows "
            f"({time.perf_counter() - t0:.1f} s)")
    keys = {name: row_key(problem, name, config) for name in names}
    out = None if out_dir is None else Path(out_dir)
    trained = {} if out is None else _load_trained(out)
    config_dump = {"command": "atlas", "spec": spec, **config.to_dict(), "architectures": list(names),
                   "formats": list(formats), "problem": problem_fingerprint(problem), "row_keys": keys}

    def snapshot() -> dict:
        result = assemble(theory, refs, trained, problem=problem, config=config, keys=keys, spec=spec,
                          seconds=time.perf_counter() - t0)
        if out is not None:
            _write(out, result, config_dump, trained, formats)
        return result

    result = snapshot()
    if config.theory_only:
        return result
    todo = [n for n in names if keys[n] not in trained]
    for n in names:
        if keys[n] in trained:
            say(f"{n}: finished row reused (same settings, {RESULT_FILE} in {out})")
    if todo and trainer is None:
        from wpgd.numerics.nn.arch import train_architecture

        trainer = train_architecture
    for i, name in enumerate(todo, 1):
        say(f"training {name} ({i}/{len(todo)}){'' if config.steps is None else f', {config.steps} steps'}, "
            f"seed {config.seed}, {config.device}")
        t1 = time.perf_counter()
        res = trainer(problem, name, steps=config.steps, seed=config.seed, device=config.device,
                      context=config.context, eval_prompts=config.eval_prompts, progress=progress,
                      theory=optima.get(name))
        trained[keys[name]] = _trained_record(res, keys[name], time.perf_counter() - t1)
        result = snapshot()
        t = result["rows"][name]["trained"]
        gap = "" if t["gap_theory"] is None else f", gap to its class optimum {t['gap_theory']:+.2%}"
        say(f"{name}: trained {t['normalized_risk']:.4f} [{t['ci'][0]:.4f}, {t['ci'][1]:.4f}]{gap}: {t['verdict']} "
            f"({t['seconds']:.0f} s)")
    return result


def replot(folder, formats=("png",)) -> list[str]:
    """Redraw the figure (and the table) of an atlas set from its ``atlas.json``; the set is rewritten
    as one unit with the requested figure formats (other formats of an earlier drawing are dropped).

    Returns:
        The names of the figure files written.
    """
    folder = Path(folder)
    result = load_result(folder)
    formats = check_formats(formats)
    jsons = {}
    for name in (CONFIG_FILE, TRAINED_FILE):
        try:
            jsons[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InvalidProblemError(f"{str(folder)!r} is not a complete atlas set ({name} unreadable)") from None
    raw = figure_files(result, formats)
    raw[TABLE_FILE] = (atlas_table(result) + "\n").encode("utf-8")
    write_output_set(folder, jsons={RESULT_FILE: result, **jsons}, raw=raw)
    return [f"{FIGURE_STEM}.{fmt}" for fmt in formats]
