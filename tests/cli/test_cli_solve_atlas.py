"""``wpgd solve --class <architecture>`` end to end (real subprocess): the atlas optima and their errors."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wpgd.numerics import load_spec
from wpgd.numerics.core.atlas import architecture_optimum
from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES, CLASSES, WPGD_ARCHITECTURES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = EXAMPLES / "reversed_segments.toml"


def wpgd(*args):
    return subprocess.run([sys.executable, "-m", "wpgd", *map(str, args)], capture_output=True, text=True, timeout=300)


def one_line_error(proc):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr


def test_solve_class_architecture_json():
    proc = wpgd("solve", "--spec", SPEC, "--class", "mamba2", "--context", "onehot", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = architecture_optimum(load_spec(SPEC), "mamba2", context="onehot")
    assert out["class"] == "mamba2"
    assert out["normalized_risk"] == pytest.approx(ref.normalized_risk, rel=1e-12)
    assert out["details"]["realised_class"] == "nonneg" and out["details"]["context"] == "onehot"


def test_solve_class_all_carries_the_architecture_rows():
    proc = wpgd("solve", "--spec", SPEC, "--class", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["classes"]
    assert list(rows) == [*CLASSES, *WPGD_ARCHITECTURES]
    pr = load_spec(SPEC)
    for name in WPGD_ARCHITECTURES:
        assert rows[name]["normalized_risk"] == pytest.approx(architecture_optimum(pr, name).normalized_risk,
                                                              rel=1e-12)


@pytest.mark.parametrize("args", [
    ("--class", "linear", "--context", "onehot"),          # context of a weight class
    ("--class", "mamba2", "--key-width", "4"),              # key width of a scalar-decay architecture
    ("--class", "deltanet"),                                # no WPGD form
    ("--class", "gla", "--context", "position"),            # unknown context
])
def test_solve_architecture_errors_are_one_line(args):
    proc = wpgd("solve", "--spec", SPEC, *args)
    assert one_line_error(proc), proc.stderr


def test_onehot_on_a_dense_spec_is_refused():
    proc = wpgd("solve", "--spec", EXAMPLES / "dense_matrix.toml", "--class", "mlstm", "--context", "onehot")
    assert one_line_error(proc) and "segment" in proc.stderr


def test_delta_rule_names_are_not_solve_choices():
    usage = wpgd("solve", "--help").stdout
    choices = re.search(r"--class \{([^}]*)\}", usage).group(1).split(",")
    assert [a for a in ARCHITECTURE_NAMES if a in choices] == list(WPGD_ARCHITECTURES)


def test_heads_flag():
    proc = wpgd("solve", "--spec", SPEC, "--class", "retnet", "--heads", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = architecture_optimum(load_spec(SPEC), "retnet", heads=2)
    assert out["normalized_risk"] == pytest.approx(ref.normalized_risk, rel=1e-12) and out["details"]["heads"] == 2
    assert one_line_error(wpgd("solve", "--spec", SPEC, "--class", "scalar", "--heads", "2"))
