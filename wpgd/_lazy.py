"""PEP 562 lazy public names for the packages ``wpgd.theory``, ``wpgd.numerics`` and
``wpgd.proofs_check``: a name is imported from its module on first use, so importing a package
(and the ``wpgd`` command line, which imports them) does not pay for SciPy, SymPy or mpmath."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, table: dict[str, tuple[str, str]],
               namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose public names map to
    ``(module, attribute)`` in ``table``; a resolved name is stored in ``namespace`` (the package's
    globals), so later look-ups skip ``__getattr__``."""

    def __getattr__(name: str) -> Any:
        try:
            module, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
