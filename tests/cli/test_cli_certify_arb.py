"""``wpgd solve/conditions --certify --precision --backend`` on the Arb layer (real subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flint")

ROOT = Path(__file__).resolve().parents[2]


def wpgd(*args):
    return subprocess.run([sys.executable, "-m", "wpgd", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_solve_certify_refuses_the_counterexample_and_encloses_three_fixed_points():
    proc = wpgd("solve", "--spec", ROOT / "docs/cases/three_fixed_points.toml", "--certify", "--backend", "arb")
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("certified")][0]
    assert line.startswith("certified        no (arb): 3 fixed points proven")
    assert line.count("attracting") == 2 and line.count("repelling") == 1


def test_solve_precision_json_has_proven_balls_and_conditions_uses_arb():
    proc = wpgd("solve", "--spec", ROOT / "examples/dense_matrix.toml", "--precision", "30", "--certify", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    hp = out["high_precision"]
    assert hp["backend"] == "arb" and out["certificate"]["backend"] == "arb" and out["certified"] is True
    risk = hp["balls"]["risk"]
    assert risk["rad"] < 1e-28 * float(risk["mid"]) and abs(float(risk["mid"]) - out["risk"]) < 1e-13 * out["risk"]
    assert len(hp["omega_balls"]) == 8 and hp["float64_rel_error"]["omega"] < 1e-12
    cond = wpgd("conditions", "--spec", ROOT / "examples/two_segments.toml", "--certify", "--json")
    assert cond.returncode == 0, cond.stderr
    c = json.loads(cond.stdout)["certificate"]
    assert c["backend"] == "arb" and c["certified"] and c["status"] == "unique"


def test_bad_backend_is_one_line_error():
    proc = wpgd("solve", "--spec", ROOT / "examples/dense_matrix.toml", "--certify", "--backend", "intervals")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "backend" in lines[0]
