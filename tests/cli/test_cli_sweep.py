"""``wpgd sweep``: a theory grid end to end (values checked against direct solves), plots, bad input."""

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from wpgd.numerics import Problem
from wpgd.numerics.core.references import class_risk
from wpgd.numerics.experiments.sweep_run import run_sweep

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wpgd(*args, cwd=None):
    exe = shutil.which("wpgd")
    assert exe, "the wpgd console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_main_error(capsys, argv, needle):
    """The same contract, in this process (no interpreter start-up per case)."""
    from wpgd.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("wpgd sweep") and needle in lines[0], lines[0]


@pytest.mark.slow
def test_theory_grid_rows_equal_direct_solves_and_rerun_is_cached(tmp_path, capsys):
    out = tmp_path / "s"
    proc = wpgd("sweep", EXAMPLES / "sweeps" / "theory_noise.toml", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(proc.stdout)
    assert (meta["tasks"], meta["computed"], meta["cached"], meta["failed"]) == (36, 36, 0, 0)
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert len(rows) == 36
    assert list(rows[0]) == [
        "tasks.segments",
        "noise.variance",
        "class",
        "risk",
        "normalized_risk",
        "null_risk",
        "key",
    ]
    by = {(r["tasks.segments"], r["noise.variance"], r["class"]): r for r in rows}
    assert len(by) == 36  # each point × class exactly once
    for (segs, noise, cls), r in by.items():
        # an independent construction of the same problem (no spec file, no sweep)
        pr = Problem.segmented(__import__("numpy").eye(10), json.loads(segs), [0.2, 0.8], noise=float(noise))
        assert float(r["normalized_risk"]) == pytest.approx(class_risk(pr, cls).normalized, rel=1e-12)
        # the class nesting: unconstrained ≤ scalar ≤ linear (up to solver tolerance)
        lin = float(by[(segs, noise, "linear")]["normalized_risk"])
        sca = float(by[(segs, noise, "scalar")]["normalized_risk"])
        unc = float(by[(segs, noise, "unconstrained")]["normalized_risk"])
        assert unc <= sca * (1 + 1e-9) and sca <= lin * (1 + 1e-9)
    assert (out / "grid.toml").read_text() == (EXAMPLES / "sweeps" / "theory_noise.toml").read_text()
    assert len(list((out / "points").glob("*.json"))) == 36
    assert (out / "sweep_tasks_segments.png").stat().st_size > 1000
    again = run_sweep(EXAMPLES / "sweeps" / "theory_noise.toml", out, progress=False)  # in this process
    assert (again["computed"], again["cached"]) == (0, 36)
    plot = wpgd("sweep", "plot", out, "--x", "noise.variance")
    assert plot.returncode == 0, plot.stderr
    assert (out / "sweep_noise_variance.png").stat().st_size > 1000
    assert_main_error(capsys, ["sweep", "plot", out, "--x", "noise.varaince"], "not an axis")


@pytest.mark.parametrize(
    "grid, needle",
    [
        (
            '[sweep]\nkind = "theory"\nspec = "base.toml"\n[axes]\n"noise.variance" = [0.1, -1.0]\n',
            "grid point noise.variance = -1.0",
        ),
        ('[sweep]\nkind = "theory"\nspec = "base.toml"\nclases = ["linear"]\n', "unknown key(s) clases"),
    ],
)
def test_bad_grid_one_line_exit_2(tmp_path, capsys, grid, needle):
    shutil.copy(EXAMPLES / "sweeps" / "base.toml", tmp_path / "base.toml")
    (tmp_path / "g.toml").write_text(grid)
    assert_main_error(capsys, ["sweep", tmp_path / "g.toml", "--out", tmp_path / "o"], needle)
    assert not (tmp_path / "o" / "results.csv").exists()


def test_usage_errors(tmp_path, capsys):
    grid = EXAMPLES / "sweeps" / "theory_noise.toml"
    assert_main_error(capsys, ["sweep", grid], "--out DIR is required")
    assert_main_error(capsys, ["sweep", "plot", tmp_path / "none", "--x", "noise.variance"], "does not exist")
    assert_main_error(capsys, ["sweep", grid, "--out", tmp_path / "o", "--device", "tpu"], "--device")
    from wpgd.cli import main

    capsys.readouterr()
    assert main(["sweep", str(grid), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers" in err[0] and "0" in err[0]


@pytest.mark.slow
def test_tiny_training_sweep_rows(tmp_path):
    shutil.copy(EXAMPLES / "sweeps" / "base.toml", tmp_path / "base.toml")
    (tmp_path / "g.toml").write_text(
        '[sweep]\nkind = "train"\nspec = "base.toml"\nmodels = ["linear"]\nseeds = [0, 1]\n'
        '[axes]\n"tasks.segments" = [[3, 3]]\n'
        "[train]\nsteps = 8\nbatch_size = 16\neval_every = 4\neval_prompts = 32\nfinal_prompts = 400\n"
        "restarts = 0\n"
    )
    out = tmp_path / "o"
    meta = run_sweep(tmp_path / "g.toml", out, workers=1, progress=False)
    assert (meta["computed"], meta["failed"], meta["backend"]) == (2, 0, "inprocess")
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert [(r["model"], r["seed"]) for r in rows] == [("linear", "0"), ("linear", "1")]
    pr = Problem.segmented(__import__("numpy").eye(10), [3, 3], [0.2, 0.8], noise=0.1)
    for r in rows:
        assert float(r["ci_low"]) <= float(r["normalized_risk"]) <= float(r["ci_high"])
        assert r["status"] in ("converged", "not_converged") and r["theory_class"] == "linear"
        assert float(r["theory_risk"]) == pytest.approx(class_risk(pr, "linear").normalized, rel=1e-9)
        metrics = json.loads((out / r["run"] / "metrics.json").read_text())
        assert metrics["normalized_risk"] == float(r["normalized_risk"])
        assert json.loads((out / r["run"] / "config.json").read_text())["config"]["seed"] == int(r["seed"])
    assert rows[0]["normalized_risk"] != rows[1]["normalized_risk"]  # the seeds are different runs


def test_parquet_holds_the_csv_rows(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="SKIP: pyarrow is not installed (the optional parquet output)")
    meta = run_sweep(
        EXAMPLES / "sweeps" / "theory_noise.toml", tmp_path / "o", workers=1, progress=False, plot=False
    )
    assert meta["files"][1].endswith("results.parquet")
    table = pq.read_table(tmp_path / "o" / "results.parquet").to_pylist()
    rows = list(csv.DictReader((tmp_path / "o" / "results.csv").read_text().splitlines()))
    assert len(table) == len(rows) == 36
    for a, b in zip(table, rows):
        assert (a["tasks.segments"], a["class"]) == (b["tasks.segments"], b["class"])
        assert a["normalized_risk"] == float(b["normalized_risk"])
