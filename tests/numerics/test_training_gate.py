"""The layer owns its gate (parameters, initial bias, learning-rate group), and the "boundary"
delimiter codes let a gate tell the segment boundaries apart (issue 9 / issue 12)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.nn.gla import DEFAULT_GATE_BIAS, GLALayer, GLAModel  # noqa: E402
from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler, make_generator  # noqa: E402
from wpgd.numerics.nn.train_config import TrainConfig, build_model  # noqa: E402
from wpgd.numerics.nn.train_loop import make_optimiser  # noqa: E402


@pytest.mark.parametrize("gating", ["scalar", "vector", "none"])
def test_gate_parameters_and_reset(gating):
    """gate_parameters lists exactly the gate map; reset_gate sets its bias; a layer without a
    gate has none (and refuses set_gate)."""
    m = GLAModel(5, 4, num_layers=2, gating=gating, dtype=torch.float64, gate_bias=1.5)
    gate = m.gate_parameters()
    if gating == "none":
        assert gate == []
        m.reset_gate(7.0)  # no effect, no error
        with pytest.raises(ValueError):
            m.layers[0].set_gate(np.zeros((1, 1, 5)), np.zeros((1, 1)))
        return
    assert len(gate) == 4 and all(p.requires_grad for p in gate)
    assert {id(p) for p in gate} == {id(layer.W_g) for layer in m.layers} | {id(layer.b_g) for layer in m.layers}
    assert all(bool((layer.b_g.detach() == 1.5).all()) for layer in m.layers)
    m.reset_gate(-2.0)
    assert all(bool((layer.b_g == -2.0).all()) for layer in m.layers)
    layer = m.layers[0]
    w = np.arange(np.prod(layer.W_g.shape), dtype=float).reshape(layer.W_g.shape)
    layer.set_gate(w, np.full(layer.b_g.shape, 4.0))
    assert np.array_equal(layer.W_g.detach().numpy(), w) and bool((layer.b_g == 4.0).all())
    with pytest.raises(ValueError):
        layer.set_gate(w[..., :-1], np.zeros(layer.b_g.shape))  # wrong shape: refused
    assert bool((GLALayer(5, 4, gating).b_g.detach() == DEFAULT_GATE_BIAS).all())


def test_optimiser_gate_group_is_the_layers_gate():
    """make_optimiser puts exactly the layer's gate parameters in the gate group at lr·gate_lr_mult,
    everything else in the main group; a model without a gate has one group."""
    pr = Problem.segmented(np.eye(3), [4, 4], [0.2, 0.9])
    cfg = TrainConfig.for_model("scalar", gate_lr_mult=3.0, lr=0.02).resolved(pr)
    model = build_model(cfg, 6, 6)
    _, opt, _ = make_optimiser(cfg, model)
    main, gate = opt.param_groups
    assert {id(p) for p in gate["params"]} == {id(p) for p in model.gate_parameters()}
    assert gate["initial_lr"] == pytest.approx(0.06) and main["initial_lr"] == pytest.approx(0.02)  # peak rates
    assert not {id(p) for p in main["params"]} & {id(p) for p in gate["params"]}
    assert len(main["params"]) + len(gate["params"]) == len(list(model.parameters()))
    lin = build_model(TrainConfig.for_model("linear").resolved(pr), 5, 5)
    assert len(make_optimiser(cfg, lin)[1].param_groups) == 1
    # the initial bias is the layer's, set at construction from the resolved config
    assert float(model.layers[0].b_g.detach()[0, 0]) == pytest.approx(cfg.init_gate_bias)


def test_boundary_delimiters_have_one_code_per_boundary():
    """delimiter="boundary": the j-th delimiter carries delimiter_value in the j-th code coordinate,
    so the K−1 delimiter tokens differ; with "flag" they are all the same token (the negative
    control); for K = 2 both encodings lay out the same tokens."""
    pr = Problem.segmented(np.eye(2), [2, 3, 2, 1], [0.1, -0.3, 0.2, 0.8])
    flag = PromptSampler(pr, PromptFormat(delimiter="flag"), dtype=torch.float64)
    bound = PromptSampler(pr, PromptFormat(delimiter="boundary", delimiter_value=2.0), dtype=torch.float64)
    assert bound.token_dim == 2 + 3 + 1 and flag.token_dim == 2 + 1 + 1
    tb = bound.sample(3, make_generator(0)).tokens
    delims = tb[:, bound.delimiter_positions]
    assert torch.equal(delims[0, :, 2:5], 2.0 * torch.eye(3, dtype=torch.float64))
    assert float(delims[..., :2].abs().sum() + delims[..., -1].abs().sum()) == 0.0
    tf = flag.sample(3, make_generator(0)).tokens[:, flag.delimiter_positions]
    assert torch.equal(tf[:, 0], tf[:, 1]) and torch.equal(tf[:, 1], tf[:, 2])
    assert not torch.equal(delims[:, 0], delims[:, 1])
    two = Problem.segmented(np.eye(2), [3, 3], [0.2, 0.9])
    a = PromptSampler(two, PromptFormat(delimiter="flag")).sample(4, make_generator(5)).tokens
    b = PromptSampler(two, PromptFormat(delimiter="boundary")).sample(4, make_generator(5)).tokens
    assert torch.equal(a, b)
    cfg = TrainConfig.for_model("scalar", delimiter="boundary")
    assert cfg.token_dim_for(pr) == bound.token_dim
    assert math.isclose(cfg.resolved(pr).lr, 0.12 / bound.token_dim)
