"""One convention for result objects (scipy's ``OptimizeResult`` is the model).

Every result object of the library (:class:`~wpgd.numerics.core.solver.Optimum`,
:class:`~wpgd.numerics.core.classes.ClassOptimum`, :class:`~wpgd.numerics.core.classes.ClassComparison`,
:class:`~wpgd.numerics.exact.certificate.Certificate`, :class:`~wpgd.numerics.core.conditions.ConditionReport`, the
reports of :mod:`wpgd.numerics.core.api`) has

* ``status``: one machine-readable word from the set its class documents (e.g. ``"converged"``,
  ``"not_converged"``, ``"degenerate"``; ``"unique"``/``"unresolved"`` for a certificate);
* ``converged``: True when the answer is what was asked for and can be trusted (the solver's
  residuals are below tolerance; a certificate's proof went through);
* ``message``: one human-readable line saying why;
* ``to_dict(arrays=False)``: a dict that ``json.dumps`` accepts as it is (Python scalars, lists,
  None for non-finite numbers), the arrays only with ``arrays=True``; the CLI's ``--json``
  prints exactly this;
* ``summary()``: the text the CLI prints.
"""

from __future__ import annotations

import json

from wpgd.numerics.core.fileio import to_jsonable

__all__ = ["Result", "json_clean"]


def json_clean(obj):
    """``obj`` with NumPy scalars and arrays, tuples and non-finite floats made JSON-native
    (non-finite floats become None)."""
    return to_jsonable(obj)


class Result:
    """Mixin of the shared methods; subclasses provide ``status``, ``converged``, ``message``,
    ``to_dict(arrays=False)`` and ``summary()``."""

    def to_json(self, arrays: bool = False, indent: int | None = 2) -> str:
        """``json.dumps(self.to_dict(arrays=arrays))``; non-finite numbers are refused, never written."""
        return json.dumps(self.to_dict(arrays=arrays), indent=indent, allow_nan=False)

    def summary(self) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError
