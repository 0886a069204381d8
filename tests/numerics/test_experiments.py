"""Tests of the experiment runners, their checks, and rendering from result files."""

import json
from dataclasses import replace

import numpy as np
import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.experiments.experiments import (
    PANELS,
    Figure1Config,
    MultilayerConfig,
    ordering_checks,
    run_figure1,
    run_multilayer,
)
from wpgd.numerics.experiments.plotting import figure1_table, render_all


def _row(model, n, risk, refs):
    primary = {"linear": "linear", "scalar": "scalar", "scalar-nodelim": "geometric", "vector": "vector"}[model]
    return {"model": model, "n": n, "risk": risk, "ci": [risk * 0.998, risk * 1.002], "rel_ci_halfwidth": 0.002,
            "references": {c: {"risk": r, "gap": risk / r - 1, "label": c} for c, r in refs.items()},
            "primary": primary}


def test_ordering_checks_pass_and_fail():
    rows = [
        _row("linear", 20, 0.66, {"linear": 0.657}),
        _row("scalar", 20, 0.58, {"scalar": 0.571}),
        _row("scalar-nodelim", 20, 0.59, {"geometric": 0.587, "scalar": 0.571}),
    ]
    near = {"spec": {"reversed": False}, "rows": rows}
    assert all(c["passed"] for c in ordering_checks(near))
    # a scalar model stuck above its optimum fails its gap check; on a reversed panel the
    # scalar model must match linear attention instead of beating it
    rows_bad = [_row("linear", 20, 0.66, {"linear": 0.657}), _row("scalar", 20, 0.60, {"scalar": 0.571})]
    failed = [c["check"] for c in ordering_checks({"spec": {"reversed": True}, "rows": rows_bad}) if not c["passed"]]
    assert any("scalar within 3%" in c for c in failed)
    assert any("collapses to linear" in c for c in failed)


def test_panels_are_valid_problems_with_the_intended_order():
    for spec in PANELS.values():
        for n in (10, 80):
            pr = spec.problem(n, 10)
            assert pr.n == n and pr.d == 10 and pr.num_segments == 2
            far, near = pr.query_correlation
            assert (far > near) == spec.reversed
    with pytest.raises(InvalidProblemError):
        PANELS["a"].problem(1, 10)


def test_tiny_figure1_and_multilayer_render_from_files(tmp_path):
    train = dict(steps=8, batch_size=16, eval_every=4, eval_prompts=32, final_prompts=400, restarts=0)
    cfg = Figure1Config(panels=("d",), d=3, n_values=(4,), theory_n=(4, 6, 2), models=("linear", "scalar"), train=train,
                        jobs=1)
    out = tmp_path / "fig"
    result = run_figure1(cfg, out, progress=False)
    panel = json.loads((out / "panel_d.json").read_text())
    assert [r["model"] for r in panel["rows"]] == ["linear", "scalar"]
    assert panel["theory"]["n"] == [4, 6] and len(panel["theory"]["scalar"]) == 2
    # reversed panel: the scalar-gating optimum equals the linear-attention one
    assert panel["theory"]["scalar"][0] == pytest.approx(panel["theory"]["linear"][0], rel=1e-6)
    assert result["panels"]["d"]["checks"]
    # a second call reuses the finished runs (same metrics, no retraining)
    again = run_figure1(cfg, out, progress=False)
    assert again["panels"]["d"]["rows"] == result["panels"]["d"]["rows"]
    # changed settings retrain in the same folders (stale checkpoints are replaced, not resumed)
    changed = run_figure1(replace(cfg, train={**train, "lr": 0.02}), out / "other", progress=False)
    run_figure1(replace(cfg, train={**train, "lr": 0.02}), out, progress=False)
    risks = [r["risk"] for r in json.loads((out / "panel_d.json").read_text())["rows"]]
    assert risks == [r["risk"] for r in changed["panels"]["d"]["rows"]]
    assert risks != [r["risk"] for r in result["panels"]["d"]["rows"]]
    run_figure1(cfg, out, progress=False)  # back to the first settings
    ml = MultilayerConfig(panel="a", d=3, n=4, layers=(1, 2), train=train, theory_prompts=2048)
    multi = run_multilayer(ml, out, progress=False)
    # L = 1 is compared with the closed-form optimum; L = 2 also with the fitted 2-step reference
    assert multi["rows"][0]["multistep_optimum"] is None
    # each row reports its step budget and how it was chosen (here --steps, explicitly)
    assert [r["steps"] for r in multi["rows"]] == [8, 8] and "explicitly" in multi["rows"][1]["steps_rule"]
    lo, hi = multi["rows"][1]["multistep_ci"]
    assert lo <= multi["rows"][1]["multistep_optimum"] <= hi < multi["rows"][0]["one_layer_optimum"]
    # every L has the class optimum with its CI and a two-sided check naming the class
    for row in multi["rows"]:
        tlo, thi = row["theory_ci"]
        assert tlo <= row["theory"] <= thi
        assert row["gap_theory"] == pytest.approx(row["risk"] / row["theory"] - 1, rel=1e-12)
    # the 1-step class optimum is the closed-form one-layer optimum (SAA excess of a 2048-prompt fit ≤ 2%)
    assert multi["rows"][0]["theory"] == pytest.approx(multi["rows"][0]["one_layer_optimum"], rel=0.02)
    theory_checks = [c for c in multi["checks"] if "gated GD++ with label rescaling" in c["check"]]
    assert [c["n"] for c in theory_checks] == [1, 2] and len(multi["checks"]) == 4
    # the gated GD++ optimum without the rescaling stays beside it as a column (L ≥ 2)
    assert multi["rows"][0]["gdpp_optimum"] is None and "label rescaling" not in multi["rows"][1]["gdpp_class"]
    glo, ghi = multi["rows"][1]["gdpp_ci"]
    assert glo <= multi["rows"][1]["gdpp_optimum"] <= ghi
    assert set(multi["rows"][1]["ablations"]) >= {"trained", "feature_write", "gates_by_type", "off_class"}
    abl = multi["rows"][1]["feature_write_ablation"]
    assert "feature_write_ablation" not in multi["rows"][0]
    assert abl["ci"][0] <= abl["risk"] <= abl["ci"][1] and abl["ablated_ci"][0] <= abl["ablated_risk"] <= abl["ablated_ci"][1]
    paths = render_all(out)
    names = {p.name for p in paths}
    assert {"figure1.png", "figure1.pdf", "multilayer.png", "report.md"} <= names
    assert "gated GD++ without rescaling" in (out / "report.md").read_text(encoding="utf-8")
    # both experiments share the folder; each dumps its own config beside its results
    assert json.loads((out / "figure1_config.json").read_text())["panels"] == ["d"]
    assert json.loads((out / "multilayer_config.json").read_text())["layers"] == [1, 2]
    assert (out / "figure1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| d | linear | 4 |" in report and "Multi-layer" in report
    assert "L-step" in report
    table = figure1_table(result["panels"])
    assert table.count("\n") >= 3


def test_cli_plot_needs_results(tmp_path, capsys):
    from wpgd.cli import main

    assert main(["experiment", "plot", str(tmp_path / "nothing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["experiment", "plot", str(tmp_path / "empty")]) == 2
    assert "no result files" in capsys.readouterr().err


def test_figure1_config_rejects_unknown_panels(tmp_path):
    with pytest.raises(InvalidProblemError):
        run_figure1(Figure1Config(panels=("z",)), tmp_path, progress=False)
    with pytest.raises(InvalidProblemError):
        run_figure1(Figure1Config(models=("transformer",)), tmp_path, progress=False)


def test_spread_spectrum_has_trace_d():
    pr = PANELS["b"].problem(10, 10)
    lam = np.linalg.eigvalsh(pr.sigma)
    assert lam.sum() == pytest.approx(10) and lam.max() / lam.min() == pytest.approx(4.0)


def test_family_defaults_then_explicit_settings():
    from wpgd.numerics.nn.train_config import FAMILY_DEFAULTS, TrainConfig

    # vector models get no restarts by default; an explicit value always wins
    assert TrainConfig.for_model("vector").restarts == FAMILY_DEFAULTS["vector"]["restarts"] == 0
    assert TrainConfig.for_model("vector", restarts=3).restarts == 3
    assert TrainConfig.for_model("vector", steps=10).steps == 10
    assert TrainConfig.for_model("scalar").restarts == TrainConfig().restarts > 0
    cfg = Figure1Config(d=7)
    vec = TrainConfig(**cfg.run_overrides("vector"))
    assert vec.restarts == 0 and vec.key_dim is None  # the family's width, derived from the problem:
    from wpgd.numerics.nn.train_config import default_key_dim

    assert default_key_dim(vec, PANELS["a"].problem(20, 7), 9) == 28  # twice the construction's 2d
    assert Figure1Config(d=7, vector_key_width=14).run_overrides("vector")["key_dim"] == 14
    # the step budget is derived from the problem (train_config.step_budget): vector trains longer
    pr = PANELS["a"].problem(7, 20)
    assert vec.resolved(pr).steps > TrainConfig(**cfg.run_overrides("linear")).resolved(pr).steps
    # --steps of the experiment applies to every family, vector_train overrides come last
    both = replace(cfg, train={"steps": 50}, vector_train={"restarts": 2})
    assert TrainConfig(**both.run_overrides("vector")).steps == 50
    assert TrainConfig(**both.run_overrides("vector")).restarts == 2
    assert TrainConfig(**both.run_overrides("scalar")).steps == 50


def test_spec_panel_scales_the_users_segments_and_matches_the_curve():
    from wpgd.numerics.core.curve import theory_curve
    from wpgd.numerics.experiments.experiments import spec_panel, theory_curves

    base = Problem.segmented(np.eye(3), [6, 2], [0.4, 0.8], correlation=[[1, 0.3], [0.3, 1]], noise=0.2)
    panel = spec_panel(base, "mine")
    assert panel.name.startswith("spec-") and not panel.reversed
    assert panel.problem(16, 3).segment_sizes == (12, 4)
    th = theory_curves(panel, 3, [4, 8, 12])
    cv = theory_curve(base, "n", [4, 8, 12], classes=("linear", "scalar"))
    for cls in ("linear", "scalar"):
        np.testing.assert_allclose(th[cls], cv.normalized_risk[cls], rtol=1e-12)
    # a different spec gets a different panel (run folders never mix); a reversed one is detected
    other = spec_panel(Problem.segmented(np.eye(3), [6, 2], [0.8, 0.4]), "rev")
    assert other.name != panel.name and other.reversed
    with pytest.raises(InvalidProblemError, match="segment spec"):
        spec_panel(base.as_dense(), "dense")


@pytest.mark.slow
def test_cli_figure1_with_a_user_spec(tmp_path, capsys):
    from wpgd.cli import main

    spec = tmp_path / "mine.toml"
    spec.write_text("[features]\ndim = 3\n[tasks]\nsegments = [3, 1]\nquery_correlation = [0.3, 0.9]\n"
                    "[noise]\nvariance = 0.1\n")
    out = tmp_path / "fig"
    args = ["experiment", "figure1", "--spec", str(spec), "--n", "4", "8", "--models", "linear", "--steps", "8",
            "--batch-size", "16", "--final-prompts", "400", "--jobs", "1", "--out", str(out)]
    assert main(args + ["--panel", "all"]) == 2  # d = 3 spec beside the d = 10 built-in panels
    assert "--panel none" in capsys.readouterr().err
    assert main(args + ["--panel", "none", "--json", "--format", "svg"]) == 0
    result = json.loads(capsys.readouterr().out)
    (name, panel), = result["panels"].items()
    assert name.startswith("spec-") and [r["n"] for r in panel["rows"]] == [4, 8]
    assert panel["theory"]["n"][0] == 4 and panel["theory"]["n"][-1] == 8
    assert (out / "figure1.svg").exists() and (out / f"panel_{name}.json").exists()


def test_experiment_guards_count_only_unfinished_runs(tmp_path, monkeypatch):
    """``wpgd experiment figure1/multilayer`` check only the runs they would train: after a tiny
    run, the same settings hand nothing to the time guard; negative controls: an empty folder hands
    it every run, another model only that model's run, another learning rate every run again."""
    import wpgd.numerics.nn.step_timing as step_timing
    from wpgd.commands.experiment import _require_runs
    from wpgd.numerics.experiments import experiments as ex

    handed = []
    monkeypatch.setattr(step_timing, "require_runs", lambda runs, **kw: handed.append(
        sorted((pr.n, tc.model, tc.layers) for pr, tc in runs)))
    train = dict(steps=6, batch_size=8, eval_every=3, eval_prompts=32, final_prompts=200, restarts=0)
    cfg = Figure1Config(panels=("d",), d=3, n_values=(4,), theory_n=(4, 6, 2), models=("linear",), train=train, jobs=1)
    run_figure1(cfg, tmp_path, progress=False)
    _require_runs(cfg, ex, tmp_path, quiet=True)
    _require_runs(cfg, ex, tmp_path / "empty", quiet=True)
    _require_runs(replace(cfg, models=("linear", "scalar")), ex, tmp_path, quiet=True)
    _require_runs(replace(cfg, train={**train, "lr": 0.02}), ex, tmp_path, quiet=True)
    assert handed == [[(4, "linear", 1)], [(4, "scalar", 1)], [(4, "linear", 1)]]
    handed.clear()
    ml = MultilayerConfig(panel="a", d=3, n=4, layers=(1,), train=train, theory_prompts=512)
    run_multilayer(ml, tmp_path, progress=False)
    _require_runs(ml, ex, tmp_path, quiet=True)
    _require_runs(replace(ml, layers=(1, 2)), ex, tmp_path, quiet=True)
    assert handed == [[(4, "scalar", 2)]]
