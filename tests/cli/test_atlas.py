"""``wpgd atlas`` end to end (real subprocess): errors, the theory-only atlas against the library, the
result set, `plot DIR`, and a tiny trained run through the whole path."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES, ARCHITECTURES, WPGD_ARCHITECTURES

SPEC_TEXT = """\
[features]
dim = 2
covariance = "identity"

[tasks]
segments = [3, 3]
query_correlation = [0.3, 0.9]

[noise]
variance = 0.1
"""


def wpgd(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "wpgd", "atlas", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=None if env is None else {**os.environ, **env})


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SPEC_TEXT)
    return path


def one_error_line(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wpgd atlas") and "error" in lines[0], proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, needles", [
    ((), ("--spec FILE is required",)),
    (("--spec", "missing.toml", "--theory-only"), ("missing.toml",)),
    (("--spec", "{spec}", "--context", "segment"), ("--context", "invalid choice")),
    (("--spec", "{spec}", "--architectures", "mamba3"), ("--architectures", "invalid choice")),
    (("--spec", "{spec}", "--theory-only", "--steps", "5"), ("--steps", "--theory-only")),
    (("--spec", "{spec}", "--theory-only", "--allow-gap"), ("--allow-gap",)),
    (("--spec", "{spec}", "--steps", "0"), ("--steps",)),
    (("--spec", "{spec}", "--heads", "2"), ("heads = 2", "--theory-only")),
    (("--spec", "{spec}", "--tolerance", "1.5"), ("--tolerance",)),
    (("--spec", "{spec}", "--theory-only", "--format", "jpg"), ("--format",)),
    (("draw", "x"), ("unknown action 'draw'",)),
    (("plot",), ("wpgd atlas plot DIR",)),
    (("plot", "{tmp}/nowhere"), ("does not exist",)),
    (("plot", "{tmp}", "--spec", "{spec}"), ("--spec", "does not apply")),
])
def test_bad_input_is_one_line_and_exit_2(args, needles, spec, tmp_path):
    args = [a.format(spec=spec, tmp=tmp_path) for a in args]
    one_error_line(wpgd(*args, cwd=tmp_path), *needles)


def test_training_over_the_time_limit_is_refused_before_anything_is_written(spec, tmp_path):
    proc = wpgd("--spec", spec, "--out", tmp_path / "atlas", env={"WPGD_MAX_SECONDS": "1"})
    one_error_line(proc, "7 training runs", "WPGD_MAX_SECONDS")
    assert not (tmp_path / "atlas").exists()


def test_json_error_is_also_on_stdout(tmp_path):
    proc = wpgd("--json", cwd=tmp_path)
    assert proc.returncode == 2 and json.loads(proc.stdout)["exit_code"] == 2


def test_theory_only_atlas_equals_the_library_and_writes_one_set(spec, tmp_path):
    from wpgd.numerics.core.atlas import architecture_optimum
    from wpgd.numerics.core.classes import class_optimum
    from wpgd.numerics.core.spec import load_spec

    out = tmp_path / "atlas"
    proc = wpgd("--spec", spec, "--theory-only", "--out", out, "--json", "--format", "png", "svg")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    problem = load_spec(spec)
    assert res["architectures"] == list(ARCHITECTURE_NAMES)
    for name in WPGD_ARCHITECTURES:
        row = res["rows"][name]
        assert row["normalized_risk"] == pytest.approx(architecture_optimum(problem, name).normalized_risk, rel=1e-12)
        assert row["trained"] is None and row["class"]
    for cls in ("linear", "unconstrained"):
        assert res["rows"][cls]["normalized_risk"] == pytest.approx(class_optimum(problem, cls).normalized_risk,
                                                                    rel=1e-12)
    for name in set(ARCHITECTURE_NAMES) - set(WPGD_ARCHITECTURES):
        assert res["rows"][name]["normalized_risk"] is None and not ARCHITECTURES[name].wpgd_form
    unc = res["rows"]["unconstrained"]["normalized_risk"]
    assert all(res["rows"][n]["normalized_risk"] >= unc * (1 - 1e-9) for n in WPGD_ARCHITECTURES)
    saved = json.loads((out / "atlas.json").read_text())
    assert saved["rows"] == res["rows"]
    files = set(json.loads((out / ".wpgd-output").read_text())["files"])
    assert files == {"atlas.json", "atlas_config.json", "atlas.txt", "atlas_trained.json", "atlas.png", "atlas.svg"}
    # the text output is the saved table
    text = wpgd("--spec", spec, "--theory-only", "--out", out)
    assert text.returncode == 0, text.stderr
    assert (out / "atlas.txt").read_text().strip() in text.stdout
    # plot DIR redraws from atlas.json alone
    proc = wpgd("plot", out, "--format", "pdf")
    assert proc.returncode == 0, proc.stderr
    assert (out / "atlas.pdf").read_bytes()[:5] == b"%PDF-" and not (out / "atlas.png").exists()


@pytest.mark.slow
def test_a_tiny_trained_run_goes_through_the_whole_path_and_resumes(spec, tmp_path):
    out = tmp_path / "atlas"
    args = ("--spec", spec, "--architectures", "mamba2", "deltanet", "--steps", "20", "--eval-prompts", "256",
            "--device", "cpu", "--out", out, "--json")
    proc = wpgd(*args, "--allow-gap")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["complete"] and res["architectures"] == ["mamba2", "deltanet"]
    m, d = res["rows"]["mamba2"]["trained"], res["rows"]["deltanet"]["trained"]
    assert m["steps"] == 20 and m["ci"][0] <= m["normalized_risk"] <= m["ci"][1]
    assert m["gap_theory"] == pytest.approx(m["normalized_risk"] / res["rows"]["mamba2"]["normalized_risk"] - 1)
    assert d["verdict"] == "trained only" and d["gap_theory"] is None
    assert "training mamba2" in proc.stderr
    # the same command again trains nothing and gives the same rows; without --allow-gap the exit
    # status follows the verdicts (3 when a row did not land, with a WARNING line)
    again = wpgd(*args)
    assert "training" not in again.stderr and "reused" in again.stderr
    res2 = json.loads(again.stdout)
    assert res2["rows"]["mamba2"]["trained"]["normalized_risk"] == m["normalized_risk"]
    assert again.returncode == (3 if res2["not_landed"] else 0)
    assert ("WARNING" in again.stderr) is bool(res2["not_landed"])


DOCS_ATLAS = Path(__file__).resolve().parents[2] / "docs" / "figures" / "atlas"


def test_the_committed_docs_atlas_matches_the_current_theory_and_its_table():
    """docs/atlas/index.md shows a trained atlas run once and committed (docs/figures/atlas/): its
    theory rows must still be what the library computes, and its table what atlas_table prints."""
    from wpgd.numerics.core.atlas import architecture_optimum
    from wpgd.numerics.core.spec import load_spec
    from wpgd.numerics.experiments.atlas_plot import atlas_table

    result = json.loads((DOCS_ATLAS / "atlas.json").read_text())
    problem = load_spec(DOCS_ATLAS / "reversed_d4.toml")
    assert result["problem"] == problem.describe() and not result["theory_only"] and result["complete"]
    for name in result["architectures"]:
        row = result["rows"][name]
        if ARCHITECTURES[name].wpgd_form:
            opt = architecture_optimum(problem, name, context=result["context"])
            assert row["normalized_risk"] == pytest.approx(opt.normalized_risk, rel=1e-9), name
            t = row["trained"]
            assert t["gap_theory"] == pytest.approx(t["normalized_risk"] / opt.normalized_risk - 1, rel=1e-9)
    assert (DOCS_ATLAS / "atlas.txt").read_text().strip() == atlas_table(result).strip()
    page = (DOCS_ATLAS.parents[1] / "atlas" / "index.md").read_text()
    assert atlas_table(result).splitlines()[1] in page  # the page shows this run's table
