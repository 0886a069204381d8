"""Each architecture's naive recurrence against its independent materialised form (float64,
relative RMS 1e-12, outputs and gradients), the one-layer models' wiring, and bad input."""

import pytest
import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.nn.arch import (
    ARCH_MODELS,
    arch_model,
    naive_recurrent_delta_rule,
    naive_recurrent_mamba2,
    naive_recurrent_mlstm,
    naive_recurrent_retnet,
    naive_recurrent_rwkv6,
    parallel_delta_rule,
    parallel_mamba2,
    parallel_mlstm,
    parallel_retnet,
    parallel_rwkv6,
)
from wpgd.numerics.nn.gla import relative_rms

TOL = 1e-12
B, T, H, K, V = 2, 9, 2, 3, 4


def _inputs(seed):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    q, k, v = r(B, T, H, K), r(B, T, H, K), r(B, T, H, V)
    return g, r, q, k, v


def _case(name, seed=0):
    """(reference kernel, materialised kernel, argument tuple) on random inputs."""
    g, r, q, k, v = _inputs(seed)
    if name == "retnet":
        return naive_recurrent_retnet, parallel_retnet, (q, k, v)
    if name == "mamba2":
        dt = torch.nn.functional.softplus(r(B, T, H))
        return naive_recurrent_mamba2, parallel_mamba2, (q, k, v, dt, -torch.exp(r(H)))
    if name == "rwkv6":
        return naive_recurrent_rwkv6, parallel_rwkv6, (q, k, v, -torch.exp(r(B, T, H, K)), r(H, K))
    if name == "mlstm":
        return naive_recurrent_mlstm, parallel_mlstm, (q, k, v, 2 * r(B, T, H), torch.nn.functional.logsigmoid(r(B, T, H)))
    if name == "deltanet":
        kn = torch.nn.functional.normalize(k, dim=-1)
        return naive_recurrent_delta_rule, parallel_delta_rule, (q, kn, v, torch.sigmoid(r(B, T, H)))
    if name == "gated-deltanet":
        kn = torch.nn.functional.normalize(k, dim=-1)
        log_g = -torch.nn.functional.softplus(r(B, T, H))
        return naive_recurrent_delta_rule, parallel_delta_rule, (q, kn, v, torch.sigmoid(r(B, T, H)), log_g)
    raise KeyError(name)


KERNELS = ["retnet", "mamba2", "rwkv6", "mlstm", "deltanet", "gated-deltanet"]


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("seed", [0, 1])
def test_recurrence_equals_materialised_form(name, seed):
    naive, parallel, args = _case(name, seed)
    ref, out = naive(*args), parallel(*args)
    assert ref.shape == (B, T, H, V)
    assert relative_rms(out, ref) < TOL


@pytest.mark.parametrize("name", KERNELS)
def test_gradients_agree(name):
    naive, parallel, args = _case(name, 3)
    args = tuple(a.clone().requires_grad_(True) for a in args)
    w = torch.randn(B, T, H, V, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    grads = []
    for kernel in (naive, parallel):
        (kernel(*args) * w).sum().backward()
        grads.append([a.grad.clone() for a in args])
        for a in args:
            a.grad = None
    for g_ref, g_par in zip(*grads):
        assert relative_rms(g_par, g_ref) < 1e-11


def test_a_wrong_recurrence_is_caught():
    # negative control of the comparison above: RWKV-6 with the current token's decay applied
    # before the read-out (o_t = r_t S_t, the GLA ordering) is not RWKV-6
    _, _, args = _case("rwkv6", 0)
    r, k, v, log_w, u = args
    from wpgd.numerics.nn.gla import naive_recurrent_gla

    wrong = naive_recurrent_gla(r, k, v, log_w) + torch.einsum("bthk,hk,bthk->bth", r, u, k).unsqueeze(-1) * v
    assert relative_rms(wrong, naive_recurrent_rwkv6(*args)) > 1e-2
    # mLSTM without its normaliser
    _, _, (q, k, v, li, lf) = _case("mlstm", 0)
    big = naive_recurrent_mlstm(q, 3 * k, v, li + 2, lf)
    from wpgd.numerics.nn.gla import naive_recurrent_gla as gla

    unnormalised = gla(q, 3 * k * torch.exp(li + 2).unsqueeze(-1), v, lf.unsqueeze(-1))
    assert relative_rms(unnormalised, big) > 1e-2


def test_strong_decays_stay_finite():
    _, _, args = _case("rwkv6", 0)
    r, k, v, log_w, u = args
    log_w = torch.full_like(log_w, -300.0)
    out = parallel_rwkv6(r, k, v, log_w, u)
    assert torch.isfinite(out).all()
    assert relative_rms(out, naive_recurrent_rwkv6(r, k, v, log_w, u)) < TOL


@pytest.mark.parametrize("name", list(ARCH_MODELS))
def test_model_modes_and_readout(name):
    torch.manual_seed(4)
    model = arch_model(name, 5, heads=2)
    z = torch.randn(3, 8, 5, dtype=torch.float64)
    par_stream, par_pred = model(z), model.predict(z)
    model.mode = "recurrent"
    rec_stream, rec_pred = model(z), model.predict(z)
    assert par_stream.shape == (3, 8, 5) and par_pred.shape == (3,)
    assert relative_rms(par_stream, rec_stream) < TOL
    assert relative_rms(par_pred, rec_pred) < TOL
    # the read-out is minus the query's label channel of the residual stream
    assert relative_rms(par_pred, -par_stream[:, -1, -1]) < TOL
    assert model.W_q.dtype == torch.float64


def test_mean_aggregation_divides_by_length():
    torch.manual_seed(5)
    z = torch.randn(2, 6, 4, dtype=torch.float64)
    s = arch_model("gla", 4)
    m = arch_model("gla", 4, aggregation="mean")
    m.load_state_dict(s.state_dict())
    assert relative_rms(m.predict(z) + z[:, -1, -1], (s.predict(z) + z[:, -1, -1]) / 6) < TOL


def test_registry_follows_the_vocabulary():
    from wpgd.numerics.core.vocabulary import ARCHITECTURE_NAMES, ARCHITECTURES

    assert tuple(ARCH_MODELS) == ARCHITECTURE_NAMES
    assert all(arch_model(name, 3).decay == ARCHITECTURES[name].gating for name in ARCH_MODELS)


def test_bad_input_is_refused():
    with pytest.raises(InvalidProblemError, match="unknown architecture"):
        arch_model("transformer", 4)
    with pytest.raises(InvalidProblemError, match="not divisible"):
        arch_model("gla", 4, heads=3, key_dim=8)
    with pytest.raises(InvalidProblemError, match="aggregation"):
        arch_model("retnet", 4, aggregation="max")
    model = arch_model("mlstm", 4)
    with pytest.raises(ValueError, match="tokens must be"):
        model.predict(torch.zeros(2, 5, 3, dtype=torch.float64))
    _, _, (r, k, v, log_w, u) = _case("rwkv6", 0)
    with pytest.raises(ValueError, match="≤ 0"):
        naive_recurrent_rwkv6(r, k, v, -log_w, u)
    with pytest.raises(ValueError, match="u must have shape"):
        parallel_rwkv6(r, k, v, log_w, u[:, :1])
    _, _, (q, k, v, dt, A) = _case("mamba2", 0)
    with pytest.raises(ValueError, match="A ≤ 0"):
        parallel_mamba2(q, k, v, dt, -A)
    with pytest.raises(ValueError, match="v must be"):
        parallel_retnet(q, k, v[:, :3])


@pytest.mark.parametrize("name", [n for n in ARCH_MODELS if n != "retnet"])
def test_restricted_gates_read_only_the_kept_coordinates(name):
    torch.manual_seed(6)
    model = arch_model(name, 5)
    z = torch.randn(2, 6, 5, dtype=torch.float64)
    z2 = z.clone()
    z2[..., :3] += 1.0  # change the "features"
    z2[..., -1] -= 2.0  # and the label
    changed = [not torch.equal(a, b) for a, b in zip(model.gates(z).values(), model.gates(z2).values())
               if isinstance(a, torch.Tensor) and a.ndim >= 3]
    assert any(changed)  # negative control: published gates read the whole token
    model.restrict_gates([0, 0, 0, 1, 0])
    g1, g2 = model.gates(model.gate_input(z)), model.gates(model.gate_input(z2))
    assert all(torch.equal(g1[key], g2[key]) for key in g1 if isinstance(g1[key], torch.Tensor))
