"""The step budget derived for L layers (wpgd.numerics.nn.multilayer_budget) and its use by the experiment."""

import pytest

pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.experiments.experiments import (  # noqa: E402
    MULTILAYER_PANELS,
    MultilayerConfig,
    multilayer_train_config,
)
from wpgd.numerics.nn.multilayer_budget import layer_class_params, layer_step_budget  # noqa: E402
from wpgd.numerics.nn.train_config import step_budget  # noqa: E402


def test_class_parameters_counted_by_hand():
    # d = 2, K = 2: one layer = 3 (symmetric 2×2) + 2 gates; two layers add 3 + 2 and a 3-entry
    # symmetric feature write
    assert layer_class_params(2, 2, 1) == 5
    assert layer_class_params(2, 2, 2) == 5 + 5 + 3
    with pytest.raises(InvalidProblemError):
        layer_class_params(2, 2, 0)


@pytest.mark.parametrize("model", ["scalar", "vector", "linear"])
def test_one_layer_is_the_one_layer_rule_and_depth_adds_steps(model):
    for d, k, batch in ((5, 2, 256), (10, 2, 256), (10, 3, 128), (32, 2, 256)):
        assert layer_step_budget(model, d, k, batch, 1)[0] == step_budget(model, d, k, batch)[0]
        steps = [layer_step_budget(model, d, k, batch, L)[0] for L in (1, 2, 3)]
        # every extra layer pays at least its own transient (base = 1000 steps, rounded to 500)
        assert steps[1] - steps[0] >= 500 and steps[2] - steps[1] >= 500
    with pytest.raises(InvalidProblemError):
        layer_step_budget(model, 10, 2, 0, 2)


def test_the_experiment_uses_the_layer_budget_and_reports_it():
    problem = MULTILAYER_PANELS["a"].problem(20, 10)
    cfg = MultilayerConfig()
    deep = multilayer_train_config(cfg, problem, 3).resolved(problem)
    assert deep.steps == layer_step_budget("scalar", 10, 2, 256, 3)[0]
    # negative control: the one-layer rule, which the committed 3-layer runs used, is not what L = 3 gets
    assert deep.steps > step_budget("scalar", 10, 2, 256)[0]
    assert "L = 3" in deep.steps_rule and "derived" in deep.steps_rule
    # an explicit --steps wins and says so
    fixed = multilayer_train_config(MultilayerConfig(train={"steps": 700}), problem, 3).resolved(problem)
    assert fixed.steps == 700 and "explicitly" in fixed.steps_rule


def test_wpgd_train_layers_gets_the_layer_budget():
    """``TrainConfig.resolved`` (what ``wpgd train --layers L`` runs) applies the L-layer rule, not the one-layer one."""
    from wpgd.numerics.nn.training import TrainConfig

    problem = MULTILAYER_PANELS["a"].problem(20, 10)
    for L in (1, 2, 3):
        cfg = TrainConfig.for_model("scalar", layers=L).resolved(problem)
        assert cfg.steps == layer_step_budget("scalar", 10, 2, 256, L)[0]
        assert ("L = " in cfg.steps_rule) == (L > 1)
    # negative control: at L = 3 the one-layer budget (what `wpgd train --layers 3` used before) is fewer steps
    assert TrainConfig.for_model("scalar", layers=3).resolved(problem).steps > step_budget("scalar", 10, 2, 256)[0]


def test_vector_gating_lengthens_the_transient_not_the_statistical_phase():
    """The vector budget is the scalar one plus a fixed longer transient per layer
    (``(vector_factor − 1)·base``, rounding aside), whatever d: the escape from the non-negative
    monotone weights does not grow with the class's p. Negative control: the rule before this
    change multiplied the whole budget by 10, which gives 72 500 − 7500 = 65 000 at d = 64."""
    from wpgd.numerics.nn.train_config import STEP_BUDGET

    extra = (STEP_BUDGET["vector_factor"] - 1) * STEP_BUDGET["base"]
    r = STEP_BUDGET["round"]
    for layers in (1, 2):
        for d, k, batch in ((3, 2, 256), (10, 4, 256), (32, 2, 256), (64, 2, 256), (128, 2, 128)):
            gap = layer_step_budget("vector", d, k, batch, layers)[0] - layer_step_budget("scalar", d, k, batch, layers)[0]
            assert abs(gap - layers * extra) <= r, (d, k, batch, layers, gap)
    # the hardest measured escape (d10_id_4seg_neg, docs/training.md) needed 12 000 steps: 6000 ended +7.23%
    assert step_budget("vector", 10, 4, 256)[0] >= 12000
    assert "vector gating" in step_budget("vector", 10, 4, 256)[1]
