"""``wpgd solve`` and ``wpgd conditions`` end to end (real subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from spec_corpus import BAD_SPECS

from wpgd.numerics import load_spec, risk
from wpgd.proofs_check.optimum_cases import spec_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wpgd(*args):
    return subprocess.run([sys.executable, "-m", "wpgd", *map(str, args)], capture_output=True, text=True, timeout=300)


def one_line_error(proc):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr


def test_solve_json_out_and_arrays(tmp_path):
    spec = EXAMPLES / "dense_matrix.toml"
    proc = wpgd("solve", "--spec", spec, "--json", "--precision", "30", "--certify", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("risk", "normalized_risk", "gamma", "mu", "fixed_points", "certified", "residuals", "high_precision"):
        assert key in out
    assert out["certified"] is True and len(out["fixed_points"]) == 1
    assert out["high_precision"]["float64_rel_error"]["risk"] < 1e-13
    pr = load_spec(spec)
    P, w = np.load(tmp_path / "o" / "P.npy"), np.load(tmp_path / "o" / "omega.npy")
    assert risk(pr, P, w) == pytest.approx(out["risk"], rel=1e-12)
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["risk"] == out["risk"]


def test_solve_text_lists_fixed_points_and_stationary_points(tmp_path):
    f = tmp_path / "three.toml"
    f.write_text(spec_text(1.0))
    proc = wpgd("solve", "--spec", f, "--stationary")
    assert proc.returncode == 0, proc.stderr
    assert "fixed points     3:" in proc.stdout
    assert proc.stdout.count("stationary       ray") == 3 and "saddle" in proc.stdout
    cond = wpgd("conditions", "--spec", f)
    assert cond.returncode == 0 and "verdict: multiple fixed points" in cond.stdout


def test_conditions_json_and_text():
    spec = EXAMPLES / "two_segments.toml"
    proc = wpgd("conditions", "--spec", spec, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    names = [c["name"] for c in out["conditions"]]
    for name in ("sigma_pd", "task_psd", "gap_condition", "contraction", "assumption3", "uniqueness"):
        assert name in names
    assert out["uniqueness_verdict"] == "condition"
    text = wpgd("conditions", "--spec", spec).stdout.splitlines()
    assert len(text) == len(names) and text[0].startswith("sigma_pd")


def test_degenerate_spec_says_so(tmp_path):
    f = tmp_path / "zero.toml"
    f.write_text("[features]\ndim = 2\n[tasks]\nsegments = [3]\nquery_correlation = [0.0]\n")
    proc = wpgd("solve", "--spec", f, "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out["degenerate"] and out["gamma"] is None and out["normalized_risk"] == 1.0


@pytest.mark.parametrize("name", ["not toml", "indefinite sigma", "non-psd joint", "empty prompt"])
def test_bad_specs_one_line_exit_2(tmp_path, name):
    f = tmp_path / "spec.toml"
    f.write_text(BAD_SPECS[name][0])
    assert one_line_error(wpgd("solve", "--spec", f))
    assert one_line_error(wpgd("conditions", "--spec", f))


def test_bad_flags(tmp_path):
    spec = EXAMPLES / "two_segments.toml"
    assert one_line_error(wpgd("solve", "--spec", spec, "--precision", "5"))
    assert one_line_error(wpgd("solve", "--spec", spec, "--class", "linear", "--certify"))
    assert one_line_error(wpgd("solve", "--spec", spec, "--class", "nonsense"))


def test_class_all_json():
    proc = wpgd("solve", "--spec", EXAMPLES / "reversed_segments.toml", "--class", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    classes = ("linear", "geometric", "scalar", "vector", "unconstrained")
    assert set(out) == {"problem", "classes", "gaps", "summary", "scalar_reaches_unconstrained", "status",
                        "converged", "message", "unconstrained_solve"}
    assert tuple(out["classes"])[: len(classes)] == classes  # then the atlas architectures (issue 15)
    rows = out["classes"]
    assert rows["unconstrained"]["risk"] <= min(rows[c]["risk"] for c in classes) + 1e-12
    assert out["unconstrained_solve"]["risk"] == rows["unconstrained"]["risk"]
    # reversed segments: the optimal weights are not monotone, so scalar gating cannot reach them
    assert out["scalar_reaches_unconstrained"] is False
    assert out["gaps"]["scalar_minus_unconstrained"] > 1e-3
    assert out["gaps"]["linear_minus_scalar"] == pytest.approx(0.0, abs=1e-9)


def test_class_all_with_key_width_applies_it_to_the_vector_class_only():
    proc = wpgd("solve", "--spec", EXAMPLES / "reversed_segments.toml", "--class", "all", "--key-width", "12",
                "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # width 12 < 2d = 20: the vector class lies strictly between scalar and unconstrained here
    rows = out["classes"]
    assert rows["unconstrained"]["risk"] < rows["vector"]["risk"] < rows["scalar"]["risk"]
    assert "key width 12" in rows["vector"]["label"]
    assert rows["gla"]["risk"] == rows["vector"]["risk"]  # and to the vector-gated architectures (issue 15)


def test_steps_fits_the_multistep_reference(tmp_path):
    pytest.importorskip("torch")
    spec = tmp_path / "tiny.toml"
    spec.write_text('[features]\ndim = 2\ncovariance = "identity"\n[tasks]\nsegments = [3, 3]\n'
                    'query_correlation = [0.2, 0.9]\n[noise]\nvariance = 0.1\n', encoding="utf-8")
    one = json.loads(wpgd("solve", "--spec", spec, "--class", "scalar", "--json").stdout)
    proc = wpgd("solve", "--spec", spec, "--class", "scalar", "--steps", "2", "--json", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    lo, hi = out["normalized_ci"]
    # two steps beat the closed-form one-step scalar optimum, beyond the interval of the estimate
    assert out["steps"] == 2 and lo <= out["normalized_risk"] <= hi < one["normalized_risk"]
    assert out["one_layer_normalized_risk"] == pytest.approx(one["normalized_risk"], rel=1e-9)
    assert np.load(tmp_path / "o" / "Q2.npy").shape == (2, 2)
    assert out["steps_class"] == "gdpp-rescale" and np.load(tmp_path / "o" / "A1.npy").shape == (2, 2)
    assert "label rescaling" in out["class"] and len(out["params"][0]["rescale"]) == 1
    # the gated GD++ class without the rescaling and the label-only recursion stay available under their names
    plain = json.loads(wpgd("solve", "--spec", spec, "--class", "scalar", "--steps", "2", "--steps-class", "gdpp",
                            "--json").stdout)
    assert plain["steps_class"] == "gdpp" and "label rescaling" not in plain["class"]
    assert "rescale" not in plain["params"][0]
    rec = json.loads(wpgd("solve", "--spec", spec, "--class", "scalar", "--steps", "2", "--steps-class", "recursion",
                          "--json").stdout)
    assert rec["steps_class"] == "recursion" and rec["normalized_ci"][1] < one["normalized_risk"]
    for bad in (["--steps", "2"], ["--class", "vector", "--steps", "3"], ["--class", "scalar", "--steps", "0"],
                ["--class", "linear", "--steps", "2", "--steps-class", "gdpp"], ["--class", "scalar", "--steps-class",
                                                                                 "gdpp"]):
        assert one_line_error(wpgd("solve", "--spec", spec, *bad))
