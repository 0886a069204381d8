"""GLA kernels and model: the masked parallel form equals the naive recurrent reference."""

import math

import pytest

torch = pytest.importorskip("torch")

from numerics.gla import (  # noqa: E402
    GLAModel,
    default_key_width,
    naive_recurrent_gla,
    parallel_gla,
    relative_rms,
)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("gate_width", [1, 5])
def test_parallel_equals_recurrent(dtype, tol, gate_width):
    gen = torch.Generator().manual_seed(gate_width)
    q = torch.randn(2, 13, 3, 5, generator=gen, dtype=dtype)
    k = torch.randn(2, 13, 3, 5, generator=gen, dtype=dtype)
    v = torch.randn(2, 13, 3, 4, generator=gen, dtype=dtype)
    log_g = torch.nn.functional.logsigmoid(2 * torch.randn(2, 13, 3, gate_width, generator=gen, dtype=dtype))
    ref = naive_recurrent_gla(q, k, v, log_g)
    assert relative_rms(parallel_gla(q, k, v, log_g), ref) < tol


def test_strong_decay_long_prompt_is_finite():
    # cumulative products of 400 gates of 1e-3 underflow; a division-based form would give inf/NaN
    q = torch.randn(1, 400, 1, 2, dtype=torch.float64)
    log_g = torch.full((1, 400, 1, 2), math.log(1e-3), dtype=torch.float64)
    o = parallel_gla(q, q, q, log_g)
    assert torch.isfinite(o).all()
    assert relative_rms(o, naive_recurrent_gla(q, q, q, log_g)) < 1e-12


def test_no_gating_is_causal_linear_attention():
    q = torch.randn(1, 6, 1, 3, dtype=torch.float64)
    k, v = torch.randn_like(q), torch.randn(1, 6, 1, 2, dtype=torch.float64)
    o = parallel_gla(q, k, v, torch.zeros(1, 6, 1, 1, dtype=torch.float64))
    scores = torch.einsum("tk,sk->ts", q[0, :, 0], k[0, :, 0]).tril()
    assert relative_rms(o[0, :, 0], scores @ v[0, :, 0]) < 1e-13


@pytest.mark.parametrize("gating", ["scalar", "vector", "none"])
def test_model_modes_agree_and_shapes(gating):
    torch.manual_seed(0)
    m = GLAModel(token_dim=6, key_dim=8, num_layers=3, gating=gating, num_heads=2, dtype=torch.float64)
    z = torch.randn(4, 11, 6, dtype=torch.float64)
    a = m(z)
    m.mode = "recurrent"
    assert relative_rms(m(z), a) < 1e-12
    assert m.predict(z).shape == (4,)
    assert torch.equal(m.predict(z), -m(z)[:, -1, -1])


def test_model_is_causal():
    m = GLAModel(token_dim=3, key_dim=4, num_layers=2, gating="vector", dtype=torch.float64)
    z = torch.randn(1, 7, 3, dtype=torch.float64)
    z2 = z.clone()
    z2[0, 5:] += 1.0
    assert torch.equal(m(z)[0, :5], m(z2)[0, :5])


def test_bad_arguments():
    with pytest.raises(ValueError):
        GLAModel(3, 4, gating="matrix")
    with pytest.raises(ValueError):
        GLAModel(3, 5, num_heads=2)
    with pytest.raises(ValueError):
        parallel_gla(torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 2))
    assert default_key_width(5, 1) == 5 and default_key_width(5, 2) == 10 and default_key_width(5, 7) == 10
