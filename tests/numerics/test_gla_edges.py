"""GLA kernels at the edges of the gate range: g = 0 exactly (log g = −∞) and g > 1 (rejected).

Every kernel must agree with the step-by-step recurrent reference in value and in gradient
(with respect to q, k, v and the log-gates) when some gates are exactly 0; the recurrent form
is right by construction (``exp(−∞) = 0`` multiplies the state).
"""

import math

import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.nn.gla import chunked_gla, last_query_gla, naive_recurrent_gla, parallel_gla  # noqa: E402

KERNELS = {
    "parallel": parallel_gla,
    "chunked1": lambda *a: chunked_gla(*a, chunk=1),
    "chunked3": lambda *a: chunked_gla(*a, chunk=3),
    "chunked4": lambda *a: chunked_gla(*a, chunk=4),
    "chunked16": lambda *a: chunked_gla(*a, chunk=16),
    "last_query": lambda q, k, v, g: last_query_gla(q[:, -1], k, v, g),  # the final position only
}


def inputs(width, zeros, seed=0, B=2, T=9, H=2, K=3, V=4):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, T, H, d, generator=gen, dtype=torch.float64) for d in (K, K, V))
    log_g = torch.nn.functional.logsigmoid(torch.randn(B, T, H, width if width else K, generator=gen,
                                                       dtype=torch.float64) + 1.0)
    for idx in zeros:
        log_g[idx] = -math.inf
    return q, k, v, log_g


def value_and_grads(kernel, q, k, v, log_g):
    leaves = [x.clone().requires_grad_() for x in (q, k, v, log_g)]
    out = kernel(*leaves)
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=torch.float64).reshape(out.shape)
    (out * weights + out.square()).sum().backward()
    return out.detach(), [x.grad for x in leaves]


ZERO_PATTERNS = {
    "one_channel_mid": [(slice(None), 4, slice(None), 0)],
    "whole_token": [(1, 5)],
    "first_token": [(slice(None), 0)],
    "last_token": [(slice(None), -1)],
    "chunk_boundary": [(0, 3), (0, 4), (1, 7, 0)],
    "every_gate": [(slice(None),)],
}


@pytest.mark.parametrize("pattern", sorted(ZERO_PATTERNS))
@pytest.mark.parametrize("width", [None, 1], ids=["vector", "scalar"])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_zero_gates_match_the_recurrent_reference(name, width, pattern):
    q, k, v, log_g = inputs(width, ZERO_PATTERNS[pattern])  # index 0 of the last axis exists for both widths
    assert torch.isneginf(log_g).any()
    reference = naive_recurrent_gla
    if name == "last_query":
        def reference(*a):
            return naive_recurrent_gla(*a)[:, -1]
    ref_out, ref_grads = value_and_grads(reference, q, k, v, log_g)
    out, grads = value_and_grads(KERNELS[name], q, k, v, log_g)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    for label, g, rg in zip("qkv", grads[:3], ref_grads[:3]):
        assert torch.isfinite(g).all(), label
        torch.testing.assert_close(g, rg, rtol=1e-11, atol=1e-12, msg=lambda m: f"d/d{label}: {m}")
    assert torch.isfinite(grads[3]).all()
    torch.testing.assert_close(grads[3], ref_grads[3], rtol=1e-11, atol=1e-12)
    assert torch.all(grads[3][torch.isneginf(log_g)] == 0)  # exp(−∞) passes no gradient


@pytest.mark.parametrize("width", [None, 1], ids=["vector", "scalar"])
def test_zero_gate_cuts_the_past(width):
    """With g_t = 0 at t = 4, outputs from t = 4 on do not depend on tokens before 4."""
    q, k, v, log_g = inputs(width, [(slice(None), 4)])
    base = parallel_gla(q, k, v, log_g)
    v2 = v.clone()
    v2[:, :4] += 10.0
    moved = parallel_gla(q, k, v2, log_g)
    torch.testing.assert_close(moved[:, 4:], base[:, 4:], rtol=0, atol=1e-12)
    assert (moved[:, :4] - base[:, :4]).abs().max() > 1.0


@pytest.mark.parametrize("name", ["recurrent", "parallel", "chunked", "last_query"])
@pytest.mark.parametrize("bad", [1e-12, 0.5, math.inf])
def test_log_gates_above_zero_are_rejected(name, bad):
    q, k, v, log_g = inputs(None, [])
    log_g[0, 2, 1, 0] = bad
    f = {"recurrent": naive_recurrent_gla, "parallel": parallel_gla, "chunked": chunked_gla,
         "last_query": lambda q, k, v, g: last_query_gla(q[:, -1], k, v, g)}[name]
    with pytest.raises(ValueError, match="log-gates must be ≤ 0"):
        f(q, k, v, log_g)


def test_log_gate_of_exactly_zero_is_accepted():
    """g = 1 (log g = 0, no decay) is the boundary of the valid range: accepted, kernels agree."""
    q, k, v, log_g = inputs(None, [])
    log_g.zero_()
    ref = naive_recurrent_gla(q, k, v, log_g)
    torch.testing.assert_close(parallel_gla(q, k, v, log_g), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(chunked_gla(q, k, v, log_g), ref, rtol=1e-12, atol=1e-12)
