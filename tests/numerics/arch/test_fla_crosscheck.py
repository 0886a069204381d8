"""Optional: our recurrences against flash-linear-attention's pure-PyTorch naive references.

Runs only where ``flash-linear-attention`` (its ``fla-core`` part) is installed; it is not a CI
dependency. fla's package ``__init__`` imports triton, which CPU machines usually lack; the naive
references themselves need only torch (and einops), so when ``import fla.ops…`` fails they are
loaded from their files in the installed package. Conventions matched per reference: fla computes
in float32, its GLA, retention and delta-rule references scale queries by K^(−1/2) (ours: a
``scale`` argument, default 1), and some take ``[B, H, T, K]`` instead of ``[B, T, H, K]``.
mLSTM has no fla reference.
"""

import importlib
import importlib.util
from pathlib import Path

import pytest
import torch

from wpgd.numerics.nn.arch import (
    naive_recurrent_delta_rule,
    naive_recurrent_mamba2,
    naive_recurrent_retnet,
    naive_recurrent_rwkv6,
)
from wpgd.numerics.nn.gla import naive_recurrent_gla, relative_rms

TOL = 1e-5  # fla's references compute in float32
B, T, H, K, V = 2, 12, 2, 4, 3


def _fla(rel: str):
    """The fla module ``fla/ops/<rel>`` (imported, or loaded from its file when the package's
    ``__init__`` cannot be imported); SKIP saying why when neither works."""
    name = "fla.ops." + rel.replace("/", ".")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        reason = f"{type(exc).__name__}: {exc}"
    spec = importlib.util.find_spec("fla")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("SKIP: flash-linear-attention is not installed (optional cross-check)")
    path = Path(next(iter(spec.submodule_search_locations))) / "ops" / (rel + ".py")
    if not path.is_file():
        pytest.skip(f"SKIP: import {name} failed ({reason}) and {path} does not exist")
    file_spec = importlib.util.spec_from_file_location(f"_fla_{rel.replace('/', '_')}", path)
    module = importlib.util.module_from_spec(file_spec)
    try:
        file_spec.loader.exec_module(module)
    except ImportError as exc2:
        pytest.skip(f"SKIP: import {name} failed ({reason}); loading {path} failed too ({exc2})")
    return module


def _rand(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _bhtk(x):
    return x.transpose(1, 2).contiguous()


def test_gla():
    fla = _fla("gla/naive")
    q, k, v = _rand(B, T, H, K, seed=1), _rand(B, T, H, K, seed=2), _rand(B, T, H, V, seed=3)
    log_g = torch.nn.functional.logsigmoid(_rand(B, T, H, K, seed=4) + 2) / 16
    theirs, _ = fla.naive_recurrent_gla(q, k, v, log_g)
    assert theirs.dtype == torch.float64  # cast back; computed in float32
    assert relative_rms(naive_recurrent_gla(q, k, v, log_g, scale=K**-0.5), theirs) < TOL


def test_retnet():
    fla = _fla("retention/naive")
    q, k, v = _rand(B, T, H, K, seed=5), _rand(B, T, H, K, seed=6), _rand(B, T, H, V, seed=7)
    theirs = _bhtk(fla.naive_retention(_bhtk(q), _bhtk(k), _bhtk(v)))
    assert relative_rms(naive_recurrent_retnet(q, k, v, scale=K**-0.5), theirs) < TOL


def test_rwkv6():
    fla = _fla("rwkv6/recurrent_naive")
    r, k, v = _rand(B, T, H, K, seed=8), _rand(B, T, H, K, seed=9), _rand(B, T, H, V, seed=10)
    log_w, u = -torch.exp(_rand(B, T, H, K, seed=11) - 1), _rand(H, K, seed=12)
    theirs, _ = fla.naive_recurrent_rwkv6(_bhtk(r), _bhtk(k), _bhtk(v), _bhtk(log_w), u, scale=1.0)
    assert relative_rms(naive_recurrent_rwkv6(r, k, v, log_w, u), _bhtk(theirs)) < TOL


def test_mamba2_is_simple_gla_with_delta_scaled_keys():
    fla = _fla("simple_gla/naive")
    q, k, v = _rand(B, T, H, K, seed=13), _rand(B, T, H, K, seed=14), _rand(B, T, H, V, seed=15)
    dt, A = torch.nn.functional.softplus(_rand(B, T, H, seed=16)), -torch.exp(_rand(H, seed=17))
    theirs, _ = fla.naive_recurrent_simple_gla(q, k * dt.unsqueeze(-1), v, dt * A, scale=1.0)
    assert relative_rms(naive_recurrent_mamba2(q, k, v, dt, A), theirs) < TOL


def test_deltanet():
    fla = _fla("delta_rule/naive")
    q, v = _rand(B, T, H, K, seed=18), _rand(B, T, H, V, seed=19)
    k = torch.nn.functional.normalize(_rand(B, T, H, K, seed=20), dim=-1)
    beta = torch.sigmoid(_rand(B, T, H, seed=21))
    theirs, _ = fla.delta_rule_recurrence(_bhtk(q), _bhtk(k), _bhtk(v), _bhtk(beta))
    assert relative_rms(naive_recurrent_delta_rule(q, k, v, beta, scale=K**-0.5), _bhtk(theirs)) < TOL


def test_gated_deltanet():
    fla = _fla("gated_delta_rule/naive")
    q, v = _rand(B, T, H, K, seed=22), _rand(B, T, H, V, seed=23)
    k = torch.nn.functional.normalize(_rand(B, T, H, K, seed=24), dim=-1)
    beta, log_g = torch.sigmoid(_rand(B, T, H, seed=25)), -torch.nn.functional.softplus(_rand(B, T, H, seed=26))
    theirs, _ = fla.naive_recurrent_gated_delta_rule(q, k, v, beta, log_g, scale=1.0)
    assert relative_rms(naive_recurrent_delta_rule(q, k, v, beta, log_g), theirs.to(torch.float64)) < TOL
