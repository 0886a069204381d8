"""The ``>>>`` examples in the packages' docstrings run and print what they show (doctest).

One test per module that has examples. A module whose optional dependency is missing is a SKIP
that says which dependency, never a PASS.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["wpgd.theory", "wpgd.numerics", "wpgd.proofs_check", "wpgd"]
OPTIONAL = {"torch", "matplotlib", "flint", "hypothesis"}
# examples that fit a model or run a derivation check (tens of seconds): still run, marked slow
SLOW = {"multistep", "derivations"}


def _module_names() -> list[str]:
    names: set[str] = set()
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        names.add(pkg)
        names.update(m.name for m in pkgutil.walk_packages(mod.__path__, pkg + "."))
    return sorted(n for n in names if not n.endswith("__main__"))


def _with_examples() -> list[str]:
    out = []
    for name in _module_names():
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as fh:
                if ">>> " in fh.read():
                    out.append(name)
    return out


def run_doctests(module) -> doctest.TestResults:
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n.rsplit(".", 1)[-1] in SLOW else n for n in _with_examples()]
)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"SKIP: {name} needs the optional dependency {exc.name}")
        raise
    results = run_doctests(module)
    assert results.attempted > 0, f"{name} has '>>> ' but no doctest was collected"
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in {name} failed (see above)"


def test_a_wrong_example_fails():  # negative control: the runner reports a wrong output
    import types

    mod = types.ModuleType("fake_doctest_module")
    mod.__doc__ = ">>> 1 + 1\n3\n"
    assert run_doctests(mod).failed == 1
