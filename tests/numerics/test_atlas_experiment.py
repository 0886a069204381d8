"""The atlas driver (wpgd.numerics.experiments.atlas) with test doubles for the theory and the trainer:
verdicts, the JSON shape, the result set, and per-row resume. The real theory and trainer are
exercised end to end in tests/cli/test_atlas.py."""

import json
from dataclasses import dataclass, replace

import numpy as np
import pytest

from wpgd.numerics.core.classes import class_optimum
from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import SET_MARKER
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.experiments import atlas as A

PROBLEM = Problem.segmented(np.eye(2), [3, 3], query_correlation=[0.3, 0.9], noise=0.1)
# the weight class each double stands in for (not a claim about the architectures: any class will do)
STAND_IN = {"retnet": "linear", "mamba2": "scalar", "gla": "vector", "rwkv6": "vector", "mlstm": "geometric"}


def theory_double(problem, name, *, context="none", heads=1):
    cls = STAND_IN[name] if heads == 1 else "unconstrained"
    opt = class_optimum(problem, cls)
    return replace(opt, cls=name, details={"realised_class": cls, "closure": name == "mamba2"})


@dataclass
class FakeTrained:
    name: str
    normalized_risk: float
    ci_low: float
    ci_high: float
    risk: float
    steps: int
    seed: int
    status: str = "converged"
    converged: bool = True
    message: str = "double"
    budget_note: str = "fixed by the test"

    def to_dict(self):
        return dict(self.__dict__)


class TrainerDouble:
    """Trains nothing: returns the class optimum times (1 + gap[name]) (delta models: 0.8), and counts calls."""

    def __init__(self, gaps=None, fail_at=None):
        self.gaps, self.calls, self.fail_at = gaps or {}, [], fail_at

    def __call__(self, problem, name, *, steps, seed, device, context, eval_prompts, progress, theory):
        assert (theory is None) is (name not in STAND_IN)  # the row's own optimum is handed over
        if theory is not None:
            assert theory.normalized_risk == theory_double(problem, name).normalized_risk
        if name == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append((name, steps, seed, context))
        base = theory_double(problem, name).normalized_risk if name in STAND_IN else 0.8
        r = base * (1 + self.gaps.get(name, 0.0))
        return FakeTrained(name, r, r * 0.995, r * 1.005, r * problem.null_risk, steps or 10, seed)


def run(tmp_path=None, trainer=None, **cfg):
    out = None if tmp_path is None else tmp_path / "atlas"
    return A.run_atlas(PROBLEM, A.AtlasConfig(**cfg), out, theory_fn=theory_double,
                       trainer=trainer or TrainerDouble())


def test_theory_rows_carry_normalized_risk_under_each_name_and_the_gaps():
    res = run(theory_only=True)
    names = A.ARCHITECTURES
    assert res["architectures"] == list(names) and res["references"] == list(A.REFERENCE_ROWS)
    lin, unc = (class_optimum(PROBLEM, c).normalized_risk for c in A.REFERENCE_ROWS)
    for name, row in res["rows"].items():
        assert "normalized_risk" in row and row["trained"] is None
        if row["kind"] == "architecture" and not names[name].wpgd_form:
            assert row["normalized_risk"] is None and "trained only" in row["class_label"]
            continue
        expect = class_optimum(PROBLEM, STAND_IN.get(name, name)).normalized_risk
        assert row["normalized_risk"] == pytest.approx(expect, rel=1e-12)
        assert row["gap_unconstrained"] == pytest.approx(expect / unc - 1, abs=1e-12)
        assert row["gap_linear"] == pytest.approx(expect / lin - 1, abs=1e-12)
        assert row["gap_unconstrained"] >= -1e-9  # nothing beats unconstrained WPGD
    assert res["complete"] and res["pending"] == []


@pytest.mark.parametrize("gap, expected", [(0.01, "landed"), (-0.029, "landed"), (0.05, "above class"),
                                           (-0.05, "below class")])
def test_verdicts_are_two_sided(gap, expected):
    res = run(trainer=TrainerDouble({"gla": gap}), architectures=("gla", "deltanet"))
    t = res["rows"]["gla"]["trained"]
    assert t["gap_theory"] == pytest.approx(gap, abs=1e-12)
    assert t["verdict"] == expected and t["landed"] is (expected == "landed")
    assert (res["not_landed"] == ["gla"]) is (expected != "landed")
    assert (res["below_class"] == ["gla"]) is (expected == "below class")
    d = res["rows"]["deltanet"]["trained"]
    assert d["verdict"] == "trained only" and d["landed"] is None and d["gap_theory"] is None
    assert d["gap_linear"] == pytest.approx(0.8 / res["rows"]["linear"]["normalized_risk"] - 1)


def test_a_row_below_its_class_is_not_reported_as_landed_whatever_the_tolerance_rounding():
    # negative control of the verdict: 5% below the class optimum with a 3% tolerance
    res = run(trainer=TrainerDouble({"mlstm": -0.05}), architectures=("mlstm",))
    assert res["rows"]["mlstm"]["trained"]["verdict"] == "below class" and res["not_landed"] == ["mlstm"]
    # the same numbers with a 6% tolerance land: the tolerance is what decides, and it is recorded
    res = run(trainer=TrainerDouble({"mlstm": -0.05}), architectures=("mlstm",), tolerance=0.06)
    assert res["rows"]["mlstm"]["trained"]["verdict"] == "landed" and res["tolerance"] == 0.06


def test_the_set_is_written_as_one_unit_with_config_table_and_figure(tmp_path):
    res = run(tmp_path, architectures=("retnet", "gated-deltanet"))
    out = tmp_path / "atlas"
    marker = json.loads((out / SET_MARKER).read_text())
    assert sorted(marker["files"]) == sorted([A.RESULT_FILE, A.CONFIG_FILE, A.TRAINED_FILE, A.TABLE_FILE,
                                              "atlas.png"])
    on_disk = json.loads((out / A.RESULT_FILE).read_text())
    assert on_disk["run_id"] == marker["run_id"] == json.loads((out / A.CONFIG_FILE).read_text())["run_id"]
    assert on_disk["rows"]["retnet"]["trained"]["normalized_risk"] == res["rows"]["retnet"]["trained"]["normalized_risk"]
    cfg = json.loads((out / A.CONFIG_FILE).read_text())
    assert cfg["architectures"] == ["retnet", "gated-deltanet"] and cfg["seed"] == 0
    assert (out / "atlas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / A.TABLE_FILE).read_text()
    assert "gated-deltanet" in table and "trained only" in table and "landed" in table


def test_a_rerun_with_the_same_settings_retrains_nothing_and_other_settings_retrain(tmp_path):
    first = TrainerDouble()
    run(tmp_path, trainer=first, architectures=("retnet", "gla", "deltanet"))
    assert len(first.calls) == 3
    again = TrainerDouble({"gla": 0.5})  # would give other numbers if it were called
    res = run(tmp_path, trainer=again, architectures=("retnet", "gla", "deltanet"))
    assert again.calls == [] and res["rows"]["gla"]["trained"]["verdict"] == "landed"
    # a changed tolerance re-judges the stored rows without training
    res = run(tmp_path, trainer=again, architectures=("retnet", "gla", "deltanet"), tolerance=0.5)
    assert again.calls == [] and res["tolerance"] == 0.5
    # negative control: another seed is another experiment, every row is trained again
    other = TrainerDouble()
    run(tmp_path, trainer=other, architectures=("retnet", "gla", "deltanet"), seed=7)
    assert [c[0] for c in other.calls] == ["retnet", "gla", "deltanet"] and {c[2] for c in other.calls} == {7}
    # ... and the rows of seed 0 are still there: switching back reuses them
    back = TrainerDouble()
    run(tmp_path, trainer=back, architectures=("retnet", "gla", "deltanet"))
    assert back.calls == []


def test_an_interrupted_run_keeps_its_finished_rows_and_resumes_with_the_rest(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, trainer=TrainerDouble(fail_at="rwkv6"), architectures=("retnet", "gla", "rwkv6", "mlstm"))
    partial = json.loads((tmp_path / "atlas" / A.RESULT_FILE).read_text())
    assert partial["complete"] is False and partial["pending"] == ["rwkv6", "mlstm"]
    assert partial["rows"]["gla"]["trained"] is not None and partial["rows"]["rwkv6"]["trained"] is None
    rest = TrainerDouble()
    res = run(tmp_path, trainer=rest, architectures=("retnet", "gla", "rwkv6", "mlstm"))
    assert [c[0] for c in rest.calls] == ["rwkv6", "mlstm"] and res["complete"] is True


def test_a_folder_of_other_files_is_refused_before_any_training(tmp_path):
    out = tmp_path / "atlas"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    trainer = TrainerDouble()
    with pytest.raises(InvalidProblemError, match="not written by wpgd"):
        run(tmp_path, trainer=trainer)
    assert trainer.calls == [] and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("cfg, match", [({"architectures": ("mamba3",)}, "unknown architecture"),
                                        ({"context": "segment"}, "context must be"),
                                        ({"tolerance": 0.0}, "tolerance")])
def test_bad_settings_are_refused(cfg, match):
    with pytest.raises(InvalidProblemError, match=match):
        run(**cfg)


def test_replot_redraws_from_the_result_file_only(tmp_path):
    run(tmp_path, architectures=("mamba2", "deltanet"))
    out = tmp_path / "atlas"
    before = json.loads((out / A.RESULT_FILE).read_text())
    assert A.replot(out, ["svg", "png"]) == ["atlas.svg", "atlas.png"]
    assert (out / "atlas.svg").read_text().lstrip().startswith("<?xml")
    after = json.loads((out / A.RESULT_FILE).read_text())
    assert {k: v for k, v in after.items() if k != "run_id"} == {k: v for k, v in before.items() if k != "run_id"}
    with pytest.raises(InvalidProblemError, match="holds no atlas.json"):
        A.replot(tmp_path)


def test_heads_reach_the_theory_rows_only():
    res = run(theory_only=True, heads=2, architectures=("retnet", "mamba2"))
    assert res["heads"] == 2 and {res["rows"][n]["class"] for n in ("retnet", "mamba2")} == {"unconstrained"}
    with pytest.raises(InvalidProblemError, match="one-head"):  # trained models are one-head layers
        run(heads=2, architectures=("retnet",))
