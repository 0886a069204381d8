"""The README's set-up commands and CI agree; the README's examples parse."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_blocks(n):
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)[:n]


def test_readme_opens_with_two_setup_commands():
    install_verify, install_test = _first_blocks(2)
    assert "wpgd verify" in install_verify and "pip install" in install_verify
    assert 'pip install -e ".[dev]"' in install_test


def test_ci_runs_exactly_the_readme_test_command():
    (_, install_test) = _first_blocks(2)
    test_cmd = install_test.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(test_cmd)}$", ci, flags=re.M), test_cmd
    assert "torch==2.13.0" in ci and '".[dev]"' in ci
