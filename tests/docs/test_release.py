"""Release hygiene and the install story: one version, a licence and citation that agree with
the package metadata, strategies usable without torch or pytest, missing extras named."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

from docs_harness import ROOT

import wpgd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Makes the named top-level modules unimportable, as if not installed (run before anything else).
_BLOCK = """
import sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _Blocker())
"""


def _python(code: str, blocked: set[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCK.format(blocked=sorted(blocked)) + code],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_one_version_everywhere():
    version = wpgd.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", version)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("gating-is-weighting") == version
    cli = subprocess.run(["wpgd", "--version"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and cli.stdout.strip() == f"wpgd {version}"
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(version)}$", cff, flags=re.M)
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()


def test_licence_and_citation_agree_with_the_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"]["text"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = (ROOT / "CITATION.cff").read_text()
    assert "license: MIT" in cff and "Gating is Weighting" in cff and "year: 2025" in cff
    for pkg in ("wpgd/theory", "wpgd/numerics", "wpgd/proofs_check", "wpgd"):
        assert (ROOT / pkg / "py.typed").is_file()


def test_strategies_need_neither_torch_nor_pytest():
    code = """
from hypothesis import given, settings
from wpgd.proofs_check.strategies import load_profile, problems, weights
assert load_profile() == "ci"
seen = []
@settings(max_examples=5)
@given(problems())
def draw(pr):
    seen.append((pr.d, pr.n))
draw()
print(len(seen) >= 1, sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "pytest", "_pytest")))
"""
    out = _python(code, {"torch", "pytest", "_pytest"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True []"


def test_the_blocker_really_blocks():  # negative control of the two tests around it
    out = _python("import torch", {"torch"})
    assert out.returncode != 0 and "No module named 'torch'" in out.stderr


def test_a_missing_torch_names_the_extra(tmp_path):
    argv = ["train", "--spec", "examples/two_segments.toml", "--model", "linear", "--steps", "1",
            "--out", str(tmp_path / "run")]
    code = f"from wpgd.cli import main\nsys.exit(main({argv!r}))\n"
    out = _python(code, {"torch"})
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wpgd train: error: this needs PyTorch, which is not installed")
    assert 'pip install "gating-is-weighting[gla]"' in lines[0]
