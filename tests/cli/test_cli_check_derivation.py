"""``wpgd check-derivation``: exit 0 (holds), 1 (refuted, counterexample printed), 2 (bad input)."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wpgd.numerics import Problem, risk

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "derivations"


def wpgd(*args, cwd=None):
    exe = shutil.which("wpgd")
    assert exe, "the wpgd console script is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_paper_risk_holds_exit_0():
    proc = wpgd("check-derivation", EXAMPLES / "paper_risk.py", "--sizes", "1x1,2x2", "--mc", 4000, "--seed", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict     HOLDS" in proc.stdout and proc.stdout.count("identity") == 2


def test_wrong_risk_refuted_exit_1_and_json_counterexample_disagrees():
    proc = wpgd("check-derivation", EXAMPLES / "wrong_risk.py", "--sizes", "1x1", "--mc", 0, "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["holds"] is False and out["sizes"][0]["exact"] is False
    ce = out["counterexample"]
    v = {k: np.asarray(x, dtype=float) for k, x in ce["instance"]["values"].items()}
    independent = risk(Problem.dense(v["Sigma"], v["Rbar"], float(v["sigma2"])), v["P"], v["omega"].ravel())
    assert ce["derived"] == pytest.approx(independent, rel=1e-9)
    assert abs(ce["claimed"] - independent) > 1e-6 * max(1.0, abs(independent))


BAD_FILES = {
    "syntax": "model = (\n",
    "missing_names": "from wpgd.proofs_check.derivations import PromptModel\nmodel = PromptModel()\n",
    "wrong_types": "model = 3\npredictor = 4\nclaimed_risk = 5\n",
    "raises": "raise RuntimeError('boom')\n",
    "bad_option": "from wpgd.proofs_check.derivations import PromptModel\nmodel = PromptModel(noise='loud')\n",
    "exit": "import sys\nsys.exit(3)\n",
    "unknown_symbol": (
        "import sympy as sp\nfrom wpgd.proofs_check.derivations import PromptModel, wpgd_predictor\n"
        "model = PromptModel()\npredictor = wpgd_predictor()\nclaimed_risk = sp.Symbol('kappa')\n"
    ),
}


def _one_line_exit_2(code, err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err


def test_bad_input_through_the_installed_entry_point(tmp_path):
    f = tmp_path / "claim.py"
    f.write_text(BAD_FILES["syntax"])
    proc = wpgd("check-derivation", f, "--mc", 0)
    _one_line_exit_2(proc.returncode, proc.stderr)
    assert "syntax error" in proc.stderr
    proc = wpgd("check-derivation", tmp_path / "none.py")
    _one_line_exit_2(proc.returncode, proc.stderr)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_input_one_line_exit_2(tmp_path, capsys, name):
    from wpgd.cli import main

    f = tmp_path / "claim.py"
    f.write_text(BAD_FILES[name])
    code = main(["check-derivation", str(f), "--mc", "0", "--sizes", "1x1"])
    _one_line_exit_2(code, capsys.readouterr().err)


@pytest.mark.parametrize("flags", [["--sizes", "2by2"], ["--sizes", "9x9"], ["--mc", "1"], ["--seed", "-1"],
                                   ["--mc-instances", "x"]])
def test_bad_flags_exit_2(capsys, flags):
    from wpgd.cli import main

    code = main(["check-derivation", str(EXAMPLES / "paper_risk.py"), *flags])
    _one_line_exit_2(code, capsys.readouterr().err)


def test_text_report_prints_the_counterexample(capsys):
    from wpgd.cli import main

    code = main(["check-derivation", str(EXAMPLES / "wrong_risk.py"), "--sizes", "1x1", "--mc", "0"])
    out = capsys.readouterr().out
    assert code == 1 and "REFUTED" in out and "counterexample (d=1, n=1):" in out
    assert "derived risk" in out and "claimed risk" in out and "wpgd.numerics.core.risk" in out
