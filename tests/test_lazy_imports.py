"""The packages' public names load lazily (PEP 562) and still resolve to the right objects.

A lazily exported name that is also a submodule's name (``wpgd.numerics.core.risk``) is the trap: once the
submodule is imported, the import system binds the *module* to the package attribute, and
``from wpgd.numerics import risk`` would return the module instead of the function.
"""

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest

PACKAGES = ["wpgd.numerics", "wpgd.theory", "wpgd.proofs_check"]


def _import_all_submodules(package):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_the_objects_of_their_modules(name):
    package = importlib.import_module(name)
    assert sorted(package.__all__) == sorted(package._LAZY)
    _import_all_submodules(package)  # binds every submodule to its package: the trap is set
    wrong = []
    for public in package.__all__:
        module, attr = package._LAZY[public]
        value = getattr(package, public)
        if isinstance(value, types.ModuleType) or value is not getattr(importlib.import_module(module), attr):
            wrong.append(public)
    assert not wrong, f"{name}: these public names resolve to the wrong object: {wrong}"


def _fresh_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in out.stdout.split()}


HEAVY = {"scipy", "sympy", "mpmath", "torch", "matplotlib", "flint", "hypothesis"}


def test_importing_the_packages_loads_no_heavy_dependency():
    loaded = _fresh_modules("; ".join(f"import {name}" for name in PACKAGES))
    assert not (loaded & HEAVY), sorted(loaded & HEAVY)


def test_heavy_detection_works():  # negative control: a real use of the API does load SciPy
    assert "scipy" in _fresh_modules("from wpgd.numerics import solve")
