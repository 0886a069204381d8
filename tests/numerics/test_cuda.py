"""What only a GPU can check: the trainer's CUDA path (fused AdamW on the device, a training step
with no host sync, a run that lands on theory, an exact resume). Every test says SKIP without CUDA;
`benchmarks/gpu_session.sh` runs this file on a lent GPU."""

import warnings
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.nn.adamw import make_adamw  # noqa: E402
from wpgd.numerics.nn.gla import GLAModel, parallel_gla  # noqa: E402
from wpgd.numerics.nn.training import TrainConfig, load_checkpoint, train  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="SKIP: needs CUDA")


def test_fused_adamw_on_cuda_computes_the_default_update():
    def run(make):
        gen = torch.Generator().manual_seed(0)
        ps = [torch.nn.Parameter(torch.randn(5, 4, generator=gen, dtype=torch.float64).cuda()),
              torch.nn.Parameter(torch.randn(4, generator=gen, dtype=torch.float64).cuda())]
        opt = make([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}])
        for _ in range(20):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype).cuda()
            opt.step()
        return opt, [p.detach().cpu() for p in ps]

    fused, a = run(lambda g: make_adamw(g, lr=0.01, weight_decay=0.1))
    assert all(g["fused"] for g in fused.param_groups)  # CUDA always has the fused kernel (torch ≥ 2.2)
    _, b = run(lambda g: torch.optim.AdamW(g, lr=0.01, weight_decay=0.1))
    assert all(torch.allclose(x, y, rtol=1e-12, atol=1e-14) for x, y in zip(a, b))
    # negative control: another weight decay is visible at this tolerance
    _, c = run(lambda g: torch.optim.AdamW(g, lr=0.01, weight_decay=0.2))
    assert not torch.allclose(a[0], c[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gating", ["scalar", "vector", "none"])
def test_forward_and_backward_never_wait_for_the_gpu(gating):
    # torch's sync debug mode raises on every operation that makes the host wait for the device
    # (a value read back, a synchronising copy): the model's training pass has none.
    torch.manual_seed(0)
    z = torch.randn(4, 9, 5, dtype=torch.float32, device="cuda")
    m = GLAModel(token_dim=5, key_dim=6, num_layers=2, gating=gating, num_heads=2).cuda()
    m.predict(z).pow(2).sum().backward()  # first call outside the check (lazy initialisation)
    torch.cuda.synchronize()
    try:
        with warnings.catch_warnings():  # "a prototype feature" (the test suite turns warnings into errors)
            warnings.simplefilter("ignore")
            torch.cuda.set_sync_debug_mode("error")
        m.predict(z).pow(2).sum().backward()
        # negative control: the public kernel checks its gates, which reads a value back
        q = torch.randn(2, 5, 1, 3, device="cuda")
        with pytest.raises(RuntimeError, match="synchroniz"):
            parallel_gla(q, q, q, torch.nn.functional.logsigmoid(q))
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.cuda.set_sync_debug_mode("default")


def test_a_cuda_run_lands_on_the_scalar_optimum(tmp_path):
    # The CUDA counterpart of test_training's CPU test: the same setting and the same tolerance.
    pr = Problem.segmented(np.eye(6), [4, 4], [0.3, 0.9])
    cfg = TrainConfig(model="scalar", steps=400, lr=0.02, batch_size=256, eval_every=400, eval_prompts=1024,
                      final_prompts=20_000, progress=False, seed=2, data_seed=3, device="cuda")
    m = train(pr, cfg).metrics
    ref = {r["class"]: r for r in m["references"]}["scalar"]
    assert abs(ref["gap"]) < 0.02, m
    # negative control: 5 steps are far from the optimum, so the check can fail
    short = train(pr, replace(cfg, steps=5, eval_every=5)).metrics
    assert abs({r["class"]: r for r in short["references"]}["scalar"]["gap"]) > 0.02


@pytest.mark.parametrize("model", ["scalar", "vector"])
def test_a_cuda_run_resumes_where_it_stopped(tmp_path, model):
    # Interrupted at step 10 of 20 and resumed on the GPU, the run ends where the uninterrupted one
    # does. CUDA's reductions may order sums differently between calls, so "where" is to 1e-5
    # relative (float32) rather than bit for bit; the printed figure says which held.
    pr = Problem.segmented(np.eye(3), [3, 3], [0.3, 0.9])
    cfg = TrainConfig(model=model, steps=20, batch_size=32, eval_every=5, eval_prompts=64, final_prompts=256,
                      eval_batch=128, checkpoint_every=0, progress=False, lr=0.01, restarts=0, device="cuda")
    straight = train(pr, cfg, tmp_path / "a")
    part = train(pr, cfg, tmp_path / "b", stop_after=10)
    assert part.metrics == {} and load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 10
    resumed = train(pr, cfg, tmp_path / "b")
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    exact = all(torch.equal(a[k], b[k]) for k in a)
    print(f"{model}: resumed parameters {'bit for bit' if exact else 'not bit for bit'}")
    assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7) for k in a)
    # negative control: a run of another seed is not within that tolerance
    other = train(pr, replace(cfg, seed=cfg.seed + 1), None).model.state_dict()
    assert not all(torch.allclose(a[k], other[k], rtol=1e-5, atol=1e-7) for k in a)
