"""The CLI merely calls the library API: ``--json`` prints exactly ``to_dict()`` of the report the
API returns, and the text output is its ``summary()`` (real subprocesses)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wpgd.numerics import load_spec
from wpgd.numerics.core.api import conditions_report, risk_report, solve_problem
from wpgd.numerics.core.errors import InvalidProblemError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = EXAMPLES / "two_segments.toml"


def wpgd(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "wpgd", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _roundtrip(d: dict) -> dict:
    return json.loads(json.dumps(d, allow_nan=False))


@pytest.mark.parametrize(
    "flags,kwargs",
    [
        ((), {}),
        (("--class", "scalar"), {"cls": "scalar"}),
        (("--class", "all"), {"cls": "all"}),
        (("--class", "vector", "--key-width", "12"), {"cls": "vector", "key_width": 12}),
    ],
)
def test_solve_json_is_to_dict_and_text_is_summary(flags, kwargs):
    rep = solve_problem(load_spec(SPEC), **kwargs)
    assert json.loads(wpgd("solve", "--spec", SPEC, *flags, "--json")) == _roundtrip(rep.to_dict())
    assert wpgd("solve", "--spec", SPEC, *flags) == rep.summary() + "\n"


def test_compare_json_has_the_shape_of_compare_classes():
    from wpgd.numerics import compare_classes

    problem = load_spec(EXAMPLES / "reversed_segments.toml")
    cli = json.loads(wpgd("solve", "--spec", EXAMPLES / "reversed_segments.toml", "--class", "all", "--json"))
    lib = compare_classes(problem).to_dict()
    assert set(lib) <= set(cli) and set(cli) - set(lib) == {"unconstrained_solve"}
    # the CLI adds the atlas architectures' rows (issue 15) after the classes
    assert {c: cli["classes"][c] for c in lib["classes"]} == _roundtrip(lib["classes"])
    assert {g: cli["gaps"][g] for g in lib["gaps"]} == _roundtrip(lib["gaps"])


def test_conditions_and_risk_json_are_to_dict(tmp_path):
    problem = load_spec(SPEC)
    rep = conditions_report(problem)
    assert json.loads(wpgd("conditions", "--spec", SPEC, "--json")) == _roundtrip(rep.to_dict())
    assert wpgd("conditions", "--spec", SPEC) == rep.summary() + "\n"
    P = np.eye(problem.d) / 500
    np.save(tmp_path / "P.npy", P)
    rr = risk_report(problem, P, mc=2000, seed=3)
    flags = ("--spec", SPEC, "--preconditioner", tmp_path / "P.npy", "--mc", 2000, "--seed", 3)
    assert json.loads(wpgd("risk", *flags, "--json")) == _roundtrip(rr.to_dict())
    assert wpgd("risk", *flags) == rr.summary() + "\n"


def test_option_combinations_are_decided_by_the_library():
    problem = load_spec(SPEC)
    for bad in (
        {"cls": "linear", "certify": True},
        {"cls": "scalar", "key_width": 4},
        {"precision": 5},
        {"cls": "vector", "steps": 2},
        {"cls": "matrix"},
    ):
        with pytest.raises(InvalidProblemError):
            solve_problem(problem, **bad)
