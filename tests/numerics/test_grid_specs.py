"""The committed training-grid specs (``docs/training_grid/``, ``benchmarks/train_grid.py --spec``)
are valid problems inside issue 9's supported range; a spec that is not (a joint task correlation
that is not positive semidefinite, as a draft of ``d32_toep_8seg`` was) is refused."""

from pathlib import Path

import numpy as np
import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.problem import Problem
from wpgd.numerics.core.spec import load_spec

GRID = Path(__file__).resolve().parents[2] / "docs" / "training_grid"
SPECS = sorted(GRID.rglob("*.toml"))


def test_there_are_grid_specs():
    assert len(SPECS) >= 20


def _in_supported_range(pr) -> bool:
    """Issue 9's range: d 1–128, n up to 1000, 1–8 segments, noise 0–2."""
    return 1 <= pr.d <= 128 and 1 <= pr.n <= 1000 and 1 <= (pr.num_segments or 1) <= 8 and 0 <= pr.noise <= 2


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(GRID)))
def test_grid_spec_is_valid_and_in_the_supported_range(path):
    assert _in_supported_range(load_spec(path))


def test_the_range_check_rejects_specs_outside_it():
    """Negative control of the range check: one step past each edge is out."""
    assert _in_supported_range(Problem.segmented(np.eye(128), [500, 500], [0.3, 0.7], noise=2.0))
    assert not _in_supported_range(Problem.segmented(np.eye(129), [4, 4], [0.3, 0.7], noise=0.1))
    assert not _in_supported_range(Problem.segmented(np.eye(2), [501, 500], [0.3, 0.7], noise=0.1))
    assert not _in_supported_range(Problem.segmented(np.eye(2), [2] * 9, [0.1] * 9, noise=0.1))
    assert not _in_supported_range(Problem.segmented(np.eye(2), [4, 4], [0.3, 0.7], noise=2.5))


def test_a_spec_with_an_invalid_correlation_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((GRID / "d32_toep_8seg.toml").read_text().replace(
        "query_correlation = [0.1, -0.3, 0.2, 0.0, 0.3, -0.2, 0.3, 0.7]",
        "query_correlation = [0.1, -0.3, 0.2, 0.0, 0.4, -0.2, 0.5, 0.8]"))
    with pytest.raises(InvalidProblemError, match="positive semidefinite"):
        load_spec(bad)


@pytest.mark.parametrize("setting,says", [("sign_change_start=off", "sign_change_start must be true, false or 'auto'"),
                                          ("no_such_field=1", "unexpected keyword argument 'no_such_field'"),
                                          ("lr", "--set takes FIELD=VALUE")])
def test_train_grid_refuses_a_bad_override_before_training(setting, says, capsys):
    """A bad ``--set`` is one error line and exit 2, before any run trains (it was a traceback after
    the first spec's header). Control: a valid override passes the check (and --only with no index
    trains nothing)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "train_grid.py"
    bad = subprocess.run([sys.executable, str(script), "--models", "vector", "--set", setting],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert says in bad.stderr.strip().splitlines()[-1] and bad.stdout == "", bad.stderr
    ok = subprocess.run([sys.executable, str(script), "--models", "vector", "--set", "sign_change_start=false",
                         "--only", "99"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
