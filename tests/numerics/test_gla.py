"""GLA kernels and model: the masked parallel, chunked and query-only forms equal the naive
recurrent reference."""

import math

import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.nn.gla import (  # noqa: E402
    GLALayer,
    GLAModel,
    chunked_gla,
    default_key_width,
    last_query_gla,
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


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("gate_width", [1, 5])
@pytest.mark.parametrize("t_len,chunk", [(1, 4), (13, 4), (16, 4), (13, 1), (13, 16), (40, 7)])
def test_chunked_equals_recurrent(dtype, tol, gate_width, t_len, chunk):
    gen = torch.Generator().manual_seed(100 * gate_width + t_len)
    q = torch.randn(2, t_len, 3, 5, generator=gen, dtype=dtype)
    k = torch.randn(2, t_len, 3, 5, generator=gen, dtype=dtype)
    v = torch.randn(2, t_len, 3, 4, generator=gen, dtype=dtype)
    log_g = torch.nn.functional.logsigmoid(2 * torch.randn(2, t_len, 3, gate_width, generator=gen, dtype=dtype))
    ref = naive_recurrent_gla(q, k, v, log_g, scale=0.5)
    assert relative_rms(chunked_gla(q, k, v, log_g, scale=0.5, chunk=chunk), ref) < tol


def test_strong_decay_long_prompt_is_finite():
    # cumulative products of 400 gates of 1e-3 underflow; a division-based form would give inf/NaN
    q = torch.randn(1, 400, 1, 2, dtype=torch.float64)
    log_g = torch.full((1, 400, 1, 2), math.log(1e-3), dtype=torch.float64)
    ref = naive_recurrent_gla(q, q, q, log_g)
    for o in (parallel_gla(q, q, q, log_g), chunked_gla(q, q, q, log_g)):
        assert torch.isfinite(o).all()
        assert relative_rms(o, ref) < 1e-12


def test_gradients_agree_and_are_finite():
    torch.manual_seed(1)
    m = GLAModel(token_dim=4, key_dim=6, num_layers=2, gating="vector", dtype=torch.float64)
    with torch.no_grad():
        for layer in m.layers:
            layer.b_g.fill_(-8.0)  # strong decay: cumulative products underflow over 60 tokens
    z = torch.randn(2, 60, 4, dtype=torch.float64)
    grads = []
    for mode in ("parallel", "chunked", "recurrent"):
        m.mode = mode
        m.zero_grad()
        m.predict(z).pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert torch.isfinite(grads[0]).all()
    assert relative_rms(grads[0], grads[2]) < 1e-10
    assert relative_rms(grads[1], grads[2]) < 1e-10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="SKIP: needs CUDA")
def test_cuda_matches_cpu():
    torch.manual_seed(2)
    m = GLAModel(token_dim=4, key_dim=6, num_layers=2, gating="vector", dtype=torch.float64)
    z = torch.randn(3, 9, 4, dtype=torch.float64)
    ref = m(z)
    assert relative_rms(m.to("cuda")(z.to("cuda")).cpu(), ref) < 1e-12


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
    for mode in ("chunked", "recurrent"):
        m.mode = mode
        assert relative_rms(m(z), a) < 1e-12
    assert m.predict(z).shape == (4,)
    # predict evaluates the last layer at the query position only (last_query_gla)
    assert relative_rms(m.predict(z), -m(z)[:, -1, -1]) < 1e-12


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("gate_width", [1, 5])
def test_last_query_equals_last_row_of_recurrent(dtype, tol, gate_width):
    gen = torch.Generator().manual_seed(10 + gate_width)
    q = torch.randn(3, 17, 2, 5, generator=gen, dtype=dtype)
    k = torch.randn(3, 17, 2, 5, generator=gen, dtype=dtype)
    v = torch.randn(3, 17, 2, 4, generator=gen, dtype=dtype)
    log_g = torch.nn.functional.logsigmoid(2 * torch.randn(3, 17, 2, gate_width, generator=gen, dtype=dtype))
    ref = naive_recurrent_gla(q, k, v, log_g, scale=0.7)[:, -1]
    assert relative_rms(last_query_gla(q[:, -1], k, v, log_g, scale=0.7), ref) < tol
    # no gating (log_g None) is the recurrent form with log g ≡ 0, and differs from the gated one
    free = naive_recurrent_gla(q, k, v, torch.zeros_like(log_g[..., :1]), scale=0.7)[:, -1]
    assert relative_rms(last_query_gla(q[:, -1], k, v, None, scale=0.7), free) < tol
    assert relative_rms(free, ref) > 1e-2
    # strong decay over a long prompt: suffix products underflow to 0, never inf/NaN
    long_q = torch.randn(1, 400, 1, 2, dtype=torch.float64)
    strong = torch.full((1, 400, 1, 2), math.log(1e-3), dtype=torch.float64)
    o = last_query_gla(long_q[:, -1], long_q, long_q, strong)
    assert torch.isfinite(o).all()
    assert relative_rms(o, naive_recurrent_gla(long_q, long_q, long_q, strong)[:, -1]) < 1e-12


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("gating", ["scalar", "vector", "none"])
def test_query_only_prediction_has_the_full_forward_gradients(gating, heads):
    # The query-only path folds W_k into the query for scalar/no gating (GLALayer.query_and_keys_last);
    # the reference is the full recurrent forward, which forms every key.
    torch.manual_seed(3)
    m = GLAModel(token_dim=5, key_dim=6, num_layers=2, gating=gating, num_heads=heads, mode="recurrent",
                 dtype=torch.float64)
    z = torch.randn(3, 12, 5, dtype=torch.float64)
    grads = []
    for loss in (lambda: m.predict(z).pow(2).sum(), lambda: m(z)[:, -1, -1].pow(2).sum()):
        m.zero_grad()
        loss().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert relative_rms(grads[0], grads[1]) < 1e-12


@pytest.mark.parametrize("seq_len", [1, 2, 13])
@pytest.mark.parametrize("heads", [1, 2])
def test_vector_last_equals_the_recurrent_forward_at_the_last_position(seq_len, heads):
    # GLALayer.vector_last reads the prompt newest first (one reversal of the tokens, the final
    # token scored on its own, the values applied after the sum over tokens); the reference is
    # the recurrent form, which forms every key and state. Values and gradients, float64.
    torch.manual_seed(5 + seq_len)
    layer = GLALayer(token_dim=4, key_dim=6, gating="vector", num_heads=heads, mode="recurrent", dtype=torch.float64)
    with torch.no_grad():  # gates from nearly shut to nearly open, so the decays matter
        layer.b_g.copy_(torch.linspace(-3.0, 3.0, layer.b_g.numel(), dtype=torch.float64).reshape(layer.b_g.shape))
    z = torch.randn(3, seq_len, 4, dtype=torch.float64)

    def grads(loss):
        layer.zero_grad()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in layer.parameters()])

    ref_out = layer.attention(z)[:, -1]
    ref = grads(ref_out.pow(2).sum())
    out = layer.attention_last(z)
    assert relative_rms(out, ref_out) < 1e-12
    assert relative_rms(grads(out.pow(2).sum()), ref) < 1e-12
    # the label channel alone (what predict reads)
    label_ref = grads(layer.forward(z)[:, -1, -1].pow(2).sum())
    assert relative_rms(grads(layer.label_last(z).pow(2).sum()), label_ref) < 1e-12
    if seq_len > 1:  # negative control: pairing each token with its own gate instead of the later ones'
        with torch.no_grad():
            log_g = layer.log_gates(z)
            k = torch.einsum("hkd,btd->bthk", layer.W_k, z)
            v = torch.einsum("hed,btd->bthe", layer.W_v, z)
            q = torch.einsum("hkd,bd->bhk", layer.W_q, z[:, -1])
            inclusive = torch.flip(torch.cumsum(torch.flip(log_g, (1,)), 1), (1,))
            wrong = torch.einsum("bsh,bshe->bhe", torch.einsum("bhk,bshk->bsh", q, k * torch.exp(inclusive)), v)
        assert relative_rms(wrong, ref_out) > 1e-2


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
    with pytest.raises(ValueError):
        chunked_gla(torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 1), chunk=0)
    with pytest.raises(ValueError):
        last_query_gla(torch.zeros(1, 3), torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 3), torch.zeros(1, 2, 1, 1))
    assert default_key_width(5, 1) == 5 and default_key_width(5, 2) == 10 and default_key_width(5, 7) == 10


# --------------------------------------------------------------------------- constructions
import numpy as np  # noqa: E402

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.core.multilayer import wpgd_recursion_predict  # noqa: E402
from wpgd.numerics.core.predictor import wpgd_predict  # noqa: E402
from wpgd.numerics.nn.construct import (  # noqa: E402
    ChannelGroup,
    build_wpgd_model,
    gate_logits,
    log_gates_for_weights,
    prompt_tokens,
    scalar_segment_group,
    segment_tokens,
    vector_key_width,
    vector_segment_groups,
    weights_from_log_gates,
)


def _np_logsigmoid(a):
    return -np.logaddexp(0.0, -a)


def _data(rng, b, n, d):
    return rng.standard_normal((b, n, d)), rng.standard_normal((b, n)), rng.standard_normal((b, d))


def _predict(model, tokens):
    return model.predict(torch.as_tensor(tokens)).detach().numpy()


@pytest.mark.parametrize("gating", ["scalar", "vector"])
def test_theorem1_random_data_dependent_gates(gating):
    """One layer, random P, random gates that read the whole token: output = x P Xᵀ(ω ⊙ y)."""
    rng = np.random.default_rng(0)
    d, n, b = 3, 9, 6
    X, y, x = _data(rng, b, n, d)
    z = prompt_tokens(X, y, x)
    P = rng.standard_normal((d, d))
    row, bias = rng.standard_normal(d + 1), float(rng.normal(1.0, 1.0))
    model = build_wpgd_model(d, d + 1, [[ChannelGroup(P, row, bias)]], gating=gating)
    log_g = _np_logsigmoid(z @ row + bias)  # (B, n+1): one gate per token, shared by the d channels
    omega = weights_from_log_gates(log_g)
    ref = wpgd_predict(X, y, x, P, omega)
    assert np.max(np.abs(_predict(model, z) - ref)) < 1e-10 * max(1.0, np.max(np.abs(ref)))
    assert np.all(omega >= 0) and np.all(np.diff(omega, axis=-1) >= 0)


def test_vector_gating_weights_each_key_channel():
    """Different gates per key channel give x̂ᵀ P Σ_i diag(ω_i) x_i y_i (per-coordinate weights)."""
    rng = np.random.default_rng(1)
    d, n, b = 3, 7, 4
    X, y, x = _data(rng, b, n, d)
    z = prompt_tokens(X, y, x)
    P = rng.standard_normal((d, d))
    model = build_wpgd_model(d, d + 1, [[ChannelGroup(P, np.zeros(d + 1), 0.0)]], gating="vector")
    wg = rng.standard_normal((d, d + 1))
    bg = rng.standard_normal(d)
    with torch.no_grad():
        model.layers[0].W_g.copy_(torch.as_tensor(wg)[None])
        model.layers[0].b_g.copy_(torch.as_tensor(bg)[None])
    log_g = _np_logsigmoid(np.einsum("cD,btD->btc", wg, z) + bg)  # (B, n+1, d)
    omega = weights_from_log_gates(np.moveaxis(log_g, -1, -2))  # (B, d, n): channel c's weights
    ref = np.einsum("bi,ij,bjn,bnj,bn->b", x, P, omega, X, y)
    assert np.max(np.abs(_predict(model, z) - ref)) < 1e-10 * np.max(np.abs(ref))


def test_no_gating_is_uniform_weights():
    rng = np.random.default_rng(2)
    X, y, x = _data(rng, 3, 5, 2)
    P = rng.standard_normal((2, 2))
    model = build_wpgd_model(2, 3, [[ChannelGroup(P)]], gating="none")
    ref = wpgd_predict(X, y, x, P, np.ones(5))
    assert np.max(np.abs(_predict(model, prompt_tokens(X, y, x)) - ref)) < 1e-12 * np.max(np.abs(ref))


def test_float32_model_matches_to_single_precision():
    rng = np.random.default_rng(3)
    X, y, x = _data(rng, 3, 6, 2)
    P = rng.standard_normal((2, 2))
    g = scalar_segment_group(P, [0.3, 1.0], codes="flag")
    z, _ = segment_tokens(X, y, x, [3, 3], codes="flag")
    model = build_wpgd_model(2, z.shape[-1], [[g]], dtype=torch.float32)
    ref = wpgd_predict(X, y, x, P, np.repeat([0.3, 1.0], 3))
    out = model.predict(torch.as_tensor(z, dtype=torch.float32)).detach().numpy()
    assert np.max(np.abs(out - ref)) < 1e-5 * np.max(np.abs(ref))


@pytest.mark.parametrize("codes", ["boundary", "flag"])
@pytest.mark.parametrize("w", [[0.1, 0.5, 1.0], [1.0, -0.3, 0.6], [2.0, 1.0, 0.5]])
def test_vector_construction_realises_any_segment_weights(codes, w):
    rng = np.random.default_rng(4)
    sizes, d = [3, 4, 2], 3
    X, y, x = _data(rng, 5, 9, d)
    P = rng.standard_normal((d, d))
    z, _ = segment_tokens(X, y, x, sizes, codes=codes)
    groups = vector_segment_groups(P, w, codes=codes)
    assert len(groups) * d == vector_key_width(d, 3, codes)
    model = build_wpgd_model(d, z.shape[-1], [groups], gating="vector")
    ref = wpgd_predict(X, y, x, P, np.repeat(w, sizes))
    assert np.max(np.abs(_predict(model, z) - ref)) < 1e-10 * np.max(np.abs(ref))


def test_scalar_construction_rejects_non_monotone_and_flag_needs_geometric():
    P = np.eye(2)
    with pytest.raises(InvalidProblemError):
        scalar_segment_group(P, [1.0, 0.5])
    with pytest.raises(InvalidProblemError):
        scalar_segment_group(P, [0.1, 0.5, 1.0], codes="flag")
    model = build_wpgd_model(2, 4, [[scalar_segment_group(P, [0.25, 0.5, 1.0], codes="flag")]])
    assert model.key_dim == 2
    with pytest.raises(InvalidProblemError):
        build_wpgd_model(2, 4, [vector_segment_groups(P, [1.0, 0.5], codes="boundary")], gating="scalar")


def test_every_monotone_sequence_is_realised_through_the_model():
    """Per-token monotone ω (with zeros and ties) via a gate-logit context coordinate."""
    rng = np.random.default_rng(5)
    d, n, b = 2, 8, 3
    omega = np.array([0.0, 0.0, 0.1, 0.1, 0.4, 0.7, 0.7, 2.0])
    log_g, scale = log_gates_for_weights(omega)
    assert np.allclose(scale * weights_from_log_gates(log_g), omega, rtol=0, atol=1e-15)
    X, y, x = _data(rng, b, n, d)
    z = prompt_tokens(X, y, x, context_dim=1)
    z[:, :, d] = gate_logits(log_g)  # a "position-marking" coordinate carrying each token's gate
    row = np.zeros(d + 2)
    row[d] = 1.0
    P = rng.standard_normal((d, d))
    model = build_wpgd_model(d, d + 2, [[ChannelGroup(scale * P, row, 0.0)]])
    ref = wpgd_predict(X, y, x, P, omega)
    assert np.max(np.abs(_predict(model, z) - ref)) < 1e-10 * np.max(np.abs(ref))


@pytest.mark.parametrize("gating,layers", [("scalar", 2), ("scalar", 3), ("vector", 2)])
def test_multilayer_model_equals_recursion(gating, layers):
    rng = np.random.default_rng(6 + layers)
    d, n, b = 3, 7, 3
    X, y, x = _data(rng, b, n, d)
    z = prompt_tokens(X, y, x)
    spec = []
    for _ in range(layers):
        n_groups = 2 if gating == "vector" else 1
        spec.append([
            ChannelGroup(0.3 * rng.standard_normal((d, d)), np.concatenate([rng.standard_normal(d), [0.0]]),
                         float(rng.normal(1.5, 1.0)))
            for _ in range(n_groups)
        ])
    model = build_wpgd_model(d, d + 1, spec, gating=gating)
    out = _predict(model, z)
    for j in range(b):
        Xt = np.concatenate([X[j], x[j][None]])
        yt = np.concatenate([y[j], [0.0]])
        rec = [[(g.Q, _np_logsigmoid(z[j] @ g.gate_weight + g.gate_bias)) for g in groups] for groups in spec]
        assert abs(out[j] - wpgd_recursion_predict(Xt, yt, rec)) < 1e-10 * max(1.0, abs(out[j]))


def _host_reads(fn) -> int:
    """Operations of ``fn()`` that read a tensor's value back to the host (``.item()``, ``bool()``):
    on CUDA each one waits for the device, so a training step should have none."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ in ("_local_scalar_dense", "is_nonzero", "item"):
                Count.n += 1
            return func(*args, **(kwargs or {}))

    with Count():
        fn()
    return Count.n


@pytest.mark.parametrize("mode", ["parallel", "chunked", "recurrent"])
@pytest.mark.parametrize("gating", ["scalar", "vector", "none"])
def test_the_model_never_reads_a_value_back_in_forward_and_backward(gating, mode):
    # The model's log-gates are a log-sigmoid of finite logits, so the kernels' checks (gates ≤ 0,
    # zero gates) are skipped there (trusted_gates): no device sync in a training step's
    # forward and backward pass, one layer or two, one head or two.
    torch.manual_seed(0)
    z = torch.randn(3, 9, 5, dtype=torch.float64)
    for layers, heads in ((1, 1), (2, 2)):
        m = GLAModel(token_dim=5, key_dim=6, num_layers=layers, gating=gating, num_heads=heads, mode=mode,
                     dtype=torch.float64)
        assert _host_reads(lambda: m.predict(z).pow(2).sum().backward()) == 0
    # negative control: the public kernels, called directly, check the gates (one read or more)
    q = torch.randn(3, 9, 2, 3, dtype=torch.float64)
    log_g = torch.nn.functional.logsigmoid(torch.randn(3, 9, 2, 1, dtype=torch.float64))
    kernel = {"parallel": parallel_gla, "chunked": chunked_gla, "recurrent": naive_recurrent_gla}[mode]
    assert _host_reads(lambda: kernel(q, q, q, log_g)) >= 1
    assert _host_reads(lambda: last_query_gla(q[:, -1], q, q, log_g)) >= 1
    assert _host_reads(lambda: kernel(q, q, q, log_g, trusted_gates=True)) == 0


def test_trusted_gates_skip_only_the_checks():
    # The same outputs with and without trusted_gates on valid gates; an invalid gate (> 0)
    # is refused only when the gates are checked.
    gen = torch.Generator().manual_seed(4)
    q = torch.randn(2, 7, 1, 3, generator=gen, dtype=torch.float64)
    log_g = torch.nn.functional.logsigmoid(torch.randn(2, 7, 1, 3, generator=gen, dtype=torch.float64))
    for kernel in (parallel_gla, chunked_gla, naive_recurrent_gla):
        assert torch.equal(kernel(q, q, q, log_g), kernel(q, q, q, log_g, trusted_gates=True))
    bad = log_g.clone()
    bad[0, 3, 0, 1] = 0.5
    with pytest.raises(ValueError, match="≤ 0"):
        parallel_gla(q, q, q, bad)
    with pytest.raises(ValueError, match="≤ 0"):
        last_query_gla(q[:, -1], q, q, bad)
