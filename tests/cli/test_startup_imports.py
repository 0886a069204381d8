"""``wpgd --help`` and ``wpgd <command> --help`` import no heavy dependency (start-up cost).

A proxy for the start-up target of issue 12 (``wpgd --help`` at most 2x a bare ``import numpy``
process; measured by benchmarks/bench_startup.py): SciPy, SymPy, mpmath, torch, matplotlib,
python-flint and Hypothesis load only when a command runs.
"""

import subprocess
import sys

import pytest

from wpgd.commands import COMMANDS

HEAVY = ["scipy", "sympy", "mpmath", "torch", "matplotlib", "flint", "hypothesis"]

_PROBE = """
import sys
from wpgd.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY:" + ",".join(heavy))
"""


def _heavy_after(argv: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv, heavy=HEAVY)],
                         capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY:")]
    assert line, out.stderr[-2000:]
    return [m for m in line[-1][len("HEAVY:"):].split(",") if m]


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in COMMANDS])
def test_help_loads_no_heavy_module(argv):
    assert _heavy_after(argv) == []


def test_the_probe_sees_a_heavy_import():  # negative control: a command that runs loads SciPy
    assert "scipy" in _heavy_after(["solve", "--spec", "examples/two_segments.toml"])
