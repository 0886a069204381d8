"""Hypothesis strategies of valid instances for the derivation checker, and the search loop."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import (
    HealthCheck,
    Phase,
    Verbosity,
    given,
    seed as hypothesis_seed,
    settings,
    strategies as st,
)
from hypothesis.extra import numpy as hnp

from .derivation_model import Predictor, PromptModel
from .derivation_report import Instance
from .strategies import preconditioners, spd_covariances, task_correlations, weights

__all__ = ["instances", "search"]


def _floats(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _model_values(model: PromptModel, d: int, n: int):
    k = model.segments
    parts = {}
    if model.sigma == "general":
        parts["Sigma"] = spd_covariances(d, max_condition=100.0)
    elif model.sigma == "diagonal":
        parts["Sigma"] = hnp.arrays(np.float64, (d,), elements=_floats(0.1, 3.0)).map(np.diag)
    elif model.sigma == "isotropic":
        parts["s"] = _floats(0.1, 3.0)
    if model.tasks == "dense":
        parts["Rbar"] = task_correlations(n)
    else:
        parts["_joint"] = task_correlations(k)
    col = lambda m: hnp.arrays(np.float64, (m, 1), elements=_floats(0.0, 1.0))  # noqa: E731
    if model.noise == "shared":
        parts["sigma2"] = _floats(0.0, 1.0)
    elif model.noise == "per_token":
        parts["noise"], parts["sigma2_q"] = col(n), _floats(0.0, 1.0)
    elif model.noise == "per_segment":
        parts["noise_segments"], parts["sigma2_q"] = col(k), _floats(0.0, 1.0)
    if model.label_mean:
        parts["mu"] = _floats(-2.0, 2.0)
    return parts


def _predictor_values(predictor: Predictor, d: int, n: int):
    parts = {}
    for name, shape in predictor.parameters.items():
        dims = predictor.numeric_shape(name, d, n)
        if tuple(shape) == ("d", "d"):
            parts[name] = preconditioners(d)
        elif tuple(shape) == ("n",):
            parts[name] = weights(n).map(lambda w: w.reshape(-1, 1))
        elif not dims:
            parts[name] = _floats(-2.0, 2.0)
        else:
            parts[name] = hnp.arrays(np.float64, dims, elements=_floats(-2.0, 2.0))
    return parts


def instances(model: PromptModel, predictor: Predictor, d: int, n: int) -> st.SearchStrategy:
    """Hypothesis strategy of valid :class:`Instance` s at sizes (d, n).

    Σ from :func:`wpgd.proofs_check.strategies.spd_covariances` (condition ≤ 100), task matrices
    from :func:`~wpgd.proofs_check.strategies.task_correlations`, P from
    :func:`~wpgd.proofs_check.strategies.preconditioners`, ω from
    :func:`~wpgd.proofs_check.strategies.weights`; noise variances in [0, 1]; μ and scalar
    predictor parameters in [−2, 2].
    """
    model.at(d, n)  # validates the sizes
    parts = {**_model_values(model, d, n), **_predictor_values(predictor, d, n)}

    def build(vals: dict) -> Instance:
        vals = dict(vals)
        if "_joint" in vals:
            j = vals.pop("_joint")
            k = j.shape[0] - 1
            vals.update(C=j[:k, :k], c=j[:k, k:], r_q=float(j[k, k]))
        return Instance(d, n, vals)

    return st.fixed_dictionaries(parts).map(build)


class _Found(Exception):
    pass


def search(strategy, fails: Callable[[Instance], bool], seed: int | None, seen: list | None = None):
    """Run Hypothesis over ``strategy``; return the shrunk instance where ``fails`` (or None)."""
    found: list[Instance] = []

    @settings(database=None, deadline=None, verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(strategy)
    def prop(inst):
        if seen is not None:
            seen.append(inst)
        if fails(inst):
            found.append(inst)
            raise _Found

    if seed is not None:
        prop = hypothesis_seed(seed)(prop)
    try:
        prop()
    except _Found:
        return found[-1]
    return None


