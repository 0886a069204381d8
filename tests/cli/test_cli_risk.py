"""The real ``wpgd`` entry point: good specs work, every bad spec gives one line and exit 2."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from spec_corpus import BAD_SPECS  # the same corpus as the API tests

from wpgd.numerics import load_spec, risk

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wpgd(*args, cwd=None):
    exe = shutil.which("wpgd")
    assert exe, "the wpgd console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "error" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_spec_one_line_exit_2(tmp_path, name):
    f = tmp_path / "spec.toml"
    f.write_text(BAD_SPECS[name][0])
    assert_one_line_error(wpgd("risk", "--spec", f))


def test_missing_spec_file(tmp_path):
    assert_one_line_error(wpgd("risk", "--spec", tmp_path / "none.toml"))


def test_bad_flags_and_arrays(tmp_path):
    spec = EXAMPLES / "two_segments.toml"
    assert_one_line_error(wpgd("risk", "--spec", spec, "--mc", "abc"))
    assert_one_line_error(wpgd("risk"))
    assert_one_line_error(wpgd("nonsense"))
    np.save(tmp_path / "P.npy", np.eye(3))
    assert_one_line_error(wpgd("risk", "--spec", spec, "--preconditioner", tmp_path / "P.npy"))
    np.save(tmp_path / "w.npy", np.full(40, np.nan))
    assert_one_line_error(wpgd("risk", "--spec", spec, "--weights", tmp_path / "w.npy"))
    (tmp_path / "junk.npy").write_text("not an array")
    assert_one_line_error(wpgd("risk", "--spec", spec, "--weights", tmp_path / "junk.npy"))
    assert_one_line_error(wpgd("risk", "--spec", spec, "--mc", "-5"))


def test_risk_json_matches_api_and_monte_carlo(tmp_path):
    spec = EXAMPLES / "reversed_segments.toml"
    pr = load_spec(spec)
    rng = np.random.default_rng(0)
    P = np.linalg.inv(pr.sigma + np.eye(pr.d)) / (pr.n * pr.d)
    w = rng.uniform(0.5, 1.5, pr.n)
    np.save(tmp_path / "P.npy", P)
    np.save(tmp_path / "w.npy", w)
    proc = wpgd("risk", "--spec", spec, "--preconditioner", tmp_path / "P.npy", "--weights", tmp_path / "w.npy",
                "--mc", 100000, "--seed", 3, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["risk"] == pytest.approx(risk(pr, P, w), rel=1e-12)
    assert out["normalized_risk"] == pytest.approx(out["risk"] / pr.null_risk, rel=1e-12)
    assert abs(out["monte_carlo"]["z_score"]) < 4.5
    assert out["monte_carlo"]["samples"] == 100000 and out["monte_carlo"]["seed"] == 3


def test_risk_text_output_defaults():
    proc = wpgd("risk", "--spec", EXAMPLES / "dense_matrix.toml")
    assert proc.returncode == 0, proc.stderr
    pr = load_spec(EXAMPLES / "dense_matrix.toml")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("risk"))
    assert float(line.split()[1]) == pytest.approx(risk(pr), rel=1e-9)


def test_every_subcommand_has_help():
    proc = wpgd("--help")
    assert proc.returncode == 0
    from wpgd.commands import COMMANDS

    for name in COMMANDS:
        sub = wpgd(name, "--help")
        assert sub.returncode == 0 and "usage: wpgd " + name in sub.stdout


def test_every_flag_is_explained():
    import argparse

    from wpgd.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            assert action.help, f"wpgd {name} {action.option_strings} has no help text"


@pytest.mark.parametrize("estimator", ["conditional", "plain"])
def test_risk_monte_carlo_reports_relative_error_and_estimator(tmp_path, estimator):
    spec = EXAMPLES / "two_segments.toml"
    pr = load_spec(spec)
    np.save(tmp_path / "P.npy", np.eye(pr.d) / 500)
    proc = wpgd("risk", "--spec", spec, "--preconditioner", tmp_path / "P.npy", "--mc", 20000, "--seed", 2,
                "--estimator", estimator, "--json")
    assert proc.returncode == 0, proc.stderr
    mc = json.loads(proc.stdout)["monte_carlo"]
    assert mc["estimator"] == estimator and abs(mc["z_score"]) < 4.5
    assert mc["relative_stderr"] == pytest.approx(mc["stderr"] / mc["mean"], rel=1e-12)
    text = wpgd("risk", "--spec", spec, "--preconditioner", tmp_path / "P.npy", "--mc", 2000,
                "--estimator", estimator).stdout
    line = next(ln for ln in text.splitlines() if ln.startswith("relative SE"))
    assert f"({estimator} estimator, numpy)" in line and line.split()[2].endswith("%")
    assert_one_line_error(wpgd("risk", "--spec", spec, "--mc", 10, "--estimator", "nope"))
