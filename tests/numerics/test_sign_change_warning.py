"""A vector run that misses where the optimum's weights change sign says why more steps will not help
(docs/training.md, "Vector gating at the edges"): ``references.weights_change_sign``, the
``weights_change_sign`` field of each reference in metrics.json, and ``wpgd train``'s WARNING."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from wpgd.numerics.core.convergence import convergence_status
from wpgd.numerics.core.references import weights_change_sign


def test_weights_change_sign_needs_both_signs_beyond_rounding():
    assert weights_change_sign(np.array([-0.3, 0.2, 1.0])) is True
    assert weights_change_sign([0.0, 0.2, 1.0]) is False  # zero is not a sign
    assert weights_change_sign([-1.0, -0.5]) is False
    assert weights_change_sign([-1e-12, 0.5, 1.0]) is False  # below 10⁻⁹ of the largest: rounding
    assert weights_change_sign([-1e-6, 0.5, 1.0]) is True
    assert weights_change_sign(None) is None


def _missed(model, changes_sign):
    m = {"model": model, "risk": 0.50, "ci": [0.49, 0.51], "null_risk": 1.0, "attempts": 1, "restart_reasons": [],
         "key_dim": 8,
         "references": [{"class": model, "label": f"{model} optimum", "risk": 0.44, "normalized_risk": 0.44,
                         "weights_change_sign": changes_sign}]}
    return {**m, **convergence_status(m)}


def test_the_warning_of_a_sign_changing_vector_miss_names_the_lost_group():
    """A run with the plain start is pointed to the sign-change start (with its measured record); a
    run that had it, to another seed. Controls: the same miss of a scalar model, or of a vector
    model whose optimum does not change sign (or whose reference has no weights), ends with the
    plain advice, unchanged."""
    from wpgd.commands.train import _warning
    from wpgd.numerics.nn.train_config import SIGN_CHANGE_START_MISS, SIGN_CHANGE_START_RECORD

    missed = _missed("vector", True)
    assert missed["status"] == "not_converged"
    plain = SimpleNamespace(steps=15500, init_label_split=False, model="vector", sign_change_start=False)
    text = _warning(missed, plain)
    assert "change sign" in text and "two groups of key channels of opposite sign" in text
    assert "Vector gating at the edges" in text and "--steps 31000 continues this run" in text
    assert "--sign-change-start on, with --no-resume" in text and SIGN_CHANGE_START_RECORD in text, text
    had = _warning(missed, SimpleNamespace(steps=15500, init_label_split=False, model="vector", sign_change_start=True))
    assert "This run had the sign-change start" in had and "--sign-change-start on" not in had, had
    assert "another --seed with --no-resume" in had
    assert SIGN_CHANGE_START_MISS in had and SIGN_CHANGE_START_MISS not in text, (had, text)  # the known miss
    plain_end = "(exit status 3; --allow-gap keeps 0)"
    for m, cfg in ((_missed("scalar", True), SimpleNamespace(steps=1500, init_label_split=False, model="scalar")),
                   (_missed("vector", False), plain), (_missed("vector", None), plain)):
        control = _warning(m, cfg)
        assert "change sign" not in control and control.endswith(plain_end), control


@pytest.mark.parametrize("corr,expected", [((-0.5, 0.8), True), ((0.3, 0.8), False)])
def test_metrics_record_whether_the_reference_weights_change_sign(corr, expected):
    """The field is computed from the class optimum's own weights: a far segment anti-correlated with
    the query makes the vector optimum's weights change sign, two positive ones do not."""
    pytest.importorskip("torch")
    from wpgd.numerics.core.classes import class_optimum
    from wpgd.numerics.core.problem import Problem
    from wpgd.numerics.nn.training import TrainConfig, train

    pr = Problem.segmented(np.eye(1), [3, 3], list(corr), noise=0.1)
    res = train(pr, TrainConfig.for_model("vector", steps=10, final_prompts=256, eval_prompts=256, eval_every=10,
                                          progress=False))
    refs = res.metrics["references"]
    assert [r["class"] for r in refs] == ["vector", "unconstrained"]
    assert refs[0]["weights_change_sign"] is expected
    assert weights_change_sign(class_optimum(pr, "vector", key_width=res.metrics["key_dim"]).omega) is expected
