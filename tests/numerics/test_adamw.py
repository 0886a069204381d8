"""The trainer's AdamW (wpgd.numerics.nn.adamw): the fused kernel computes the default
implementation's update, and a saved state resumes with this machine's implementation."""

import copy

import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.nn.adamw import keep_implementation, make_adamw  # noqa: E402


def _params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 3, generator=gen, dtype=torch.float64)),
            torch.nn.Parameter(torch.randn(3, generator=gen, dtype=torch.float64))]


def _groups(ps):  # two groups, as the trainer makes (the gate at its own learning rate)
    return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}]


def _train(opt, ps, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in ps:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        opt.step()


def _fused_or_skip(ps):
    opt = make_adamw(_groups(ps), lr=0.01, weight_decay=0.1)
    if not opt.param_groups[0]["fused"]:
        pytest.skip("SKIP: this torch build has no fused AdamW on the CPU (torch < 2.4): the default is used")
    return opt


def test_fused_adamw_computes_the_default_update():
    fused_ps, plain_ps = _params(), _params()
    fused = _fused_or_skip(fused_ps)
    plain = torch.optim.AdamW(_groups(plain_ps), lr=0.01, weight_decay=0.1)
    _train(fused, fused_ps, 20)
    _train(plain, plain_ps, 20)
    for a, b in zip(fused_ps, plain_ps):  # float64: only the rounding of the update differs
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
    # negative control: another weight decay is visible at this tolerance
    other_ps = _params()
    other = torch.optim.AdamW(_groups(other_ps), lr=0.01, weight_decay=0.2)
    _train(other, other_ps, 20)
    assert not torch.allclose(other_ps[0], plain_ps[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("saved_fused", [False, True])
def test_a_saved_state_resumes_with_this_machines_implementation(saved_fused):
    # A state saved by either implementation continues the same run under the fused one: the
    # parameters after 5 + 5 steps equal those of 10 uninterrupted default steps.
    ref_ps = _params()
    ref = torch.optim.AdamW(_groups(ref_ps), lr=0.01, weight_decay=0.1)
    _train(ref, ref_ps, 5, seed=1)
    _train(ref, ref_ps, 5, seed=2)

    first_ps = _params()
    first = make_adamw(_groups(first_ps), lr=0.01, weight_decay=0.1) if saved_fused else \
        torch.optim.AdamW(_groups(first_ps), lr=0.01, weight_decay=0.1)
    if saved_fused and not first.param_groups[0]["fused"]:
        pytest.skip("SKIP: this torch build has no fused AdamW on the CPU")
    _train(first, first_ps, 5, seed=1)
    saved = copy.deepcopy(first.state_dict())  # as a checkpoint holds it (the live dict shares tensors)

    ps = [torch.nn.Parameter(p.detach().clone()) for p in first_ps]
    opt = _fused_or_skip(ps)
    keep_implementation(opt, lambda: opt.load_state_dict(saved))
    assert all(g["fused"] for g in opt.param_groups)
    assert all(st["step"].dtype == torch.float32 for st in opt.state.values())
    _train(opt, ps, 5, seed=2)
    for a, b in zip(ps, ref_ps):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)

    # negative control: a plain load takes the saving machine's flags
    ps2 = [torch.nn.Parameter(p.detach().clone()) for p in first_ps]
    opt2 = make_adamw(_groups(ps2), lr=0.01, weight_decay=0.1)
    opt2.load_state_dict(saved)
    assert bool(opt2.param_groups[0]["fused"]) == saved_fused


def test_the_default_implementation_is_kept_too():
    # The other direction: a fused state loaded into the default implementation stays default,
    # with its step counters on the CPU, and continues the run.
    ps = _params()
    fused = _fused_or_skip(ps)
    _train(fused, ps, 3)
    saved = copy.deepcopy(fused.state_dict())
    plain_ps = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    plain = torch.optim.AdamW(_groups(plain_ps), lr=0.01, weight_decay=0.1)
    keep_implementation(plain, lambda: plain.load_state_dict(saved))
    assert not any(g["fused"] for g in plain.param_groups)
    assert all(st["step"].device.type == "cpu" for st in plain.state.values())
    _train(plain, plain_ps, 3, seed=2)
    _train(fused, ps, 3, seed=2)
    for a, b in zip(plain_ps, ps):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
