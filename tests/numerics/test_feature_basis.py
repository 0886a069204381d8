"""The whitened feature basis of the prompt tokens (``PromptFormat.feature_basis``): the tokens
carry ``M x`` with ``M Σ Mᵀ`` the identity on the range of Σ, the prompt drawn is the same as in
the given basis, and the trainer writes whitened features by default (docs/training.md,
"Conditioning")."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wpgd.numerics.core.errors import InvalidProblemError  # noqa: E402
from wpgd.numerics.core.problem import Problem  # noqa: E402
from wpgd.numerics.core.safety import psd_factor  # noqa: E402
from wpgd.numerics.nn.prompts import PromptFormat, PromptSampler, make_generator  # noqa: E402
from wpgd.numerics.nn.train_config import TrainConfig  # noqa: E402

WHITE = PromptFormat(delimiter="flag", feature_basis="whitened")


def _toeplitz(d, rho):
    i = np.arange(d)
    return rho ** np.abs(i[:, None] - i[None, :])


def _singular(d=4, rank=2, seed=0):
    a = np.random.default_rng(seed).standard_normal((d, rank))
    return a @ a.T


def test_whitening_map_makes_the_covariance_the_identity():
    sigma = _toeplitz(6, 0.97)  # κ ≈ 200, rotated
    M = WHITE.feature_map(sigma)
    np.testing.assert_allclose(M @ sigma @ M.T, np.eye(6), atol=1e-10)
    # negative control: the given basis leaves a rotated Σ correlated
    G = PromptFormat().feature_map(sigma)
    assert np.abs(G @ sigma @ G.T - np.eye(6)).max() > 0.5


def test_whitening_map_of_a_singular_sigma_is_a_projection():
    """Rank-2 Σ in d = 4: the null directions (x has no component there) are written as 0, the
    range whitened; ``M Σ Mᵀ`` is a rank-2 orthogonal projector."""
    sigma = _singular()
    M = WHITE.feature_map(sigma)
    proj = M @ sigma @ M.T
    np.testing.assert_allclose(proj @ proj, proj, atol=1e-10)
    assert np.trace(proj) == pytest.approx(2.0, abs=1e-10)
    assert np.isfinite(M).all()
    eig = np.linalg.eigvalsh(sigma)
    assert np.linalg.matrix_rank(M, tol=1e-8) == int((eig > 1e-8).sum()) == 2


def test_feature_scale_multiplies_the_whitened_map():
    sigma = _toeplitz(3, 0.5)
    np.testing.assert_allclose(PromptFormat(feature_basis="whitened", feature_scale=2.0).feature_map(sigma),
                               2.0 * WHITE.feature_map(sigma), rtol=1e-14)
    np.testing.assert_allclose(PromptFormat(feature_scale=0.5).feature_map(sigma), 0.5 * np.eye(3))


@pytest.mark.parametrize("sigma", [_toeplitz(4, 0.9), _singular()], ids=["toeplitz", "singular"])
def test_token_preconditioner_keeps_every_bilinear_form(sigma):
    rng = np.random.default_rng(1)
    P = rng.standard_normal((4, 4))
    x, x2 = (psd_factor(sigma) @ rng.standard_normal(4) for _ in range(2))  # x ~ N(0, Σ): in its range
    M = WHITE.feature_map(sigma)
    Pt = WHITE.token_preconditioner(P, sigma)
    # 1e-6: psd_factor keeps √(rounding) ≈ 1e-8 of x along Σ's null directions, which M drops
    assert (M @ x) @ Pt @ (M @ x2) == pytest.approx(x @ P @ x2, rel=1e-6)
    # negative control: P itself in token coordinates is a different form
    assert (M @ x) @ P @ (M @ x2) != pytest.approx(x @ P @ x2, rel=1e-3)


def test_sampler_writes_the_same_prompt_in_whitened_coordinates():
    """Same seed, two bases: labels, targets and raw features agree exactly; the token features are
    ``x Mᵀ`` (float64, 1e-12), their sample covariance is the identity to Monte Carlo accuracy
    (8192 prompts × 7 tokens: ±0.03), and everything outside the feature block is unchanged."""
    pr = Problem.segmented(_toeplitz(5, 0.95), [3, 3], [0.3, 0.8], noise=0.5)
    given = PromptSampler(pr, PromptFormat(delimiter="flag"), dtype=torch.float64)
    white = PromptSampler(pr, WHITE, dtype=torch.float64)
    a, b = given.sample(8192, make_generator(7)), white.sample(8192, make_generator(7))
    for name in ("target", "features", "labels", "query"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(a.tokens[..., 5:], b.tokens[..., 5:])
    M = torch.as_tensor(WHITE.feature_map(pr.sigma))
    torch.testing.assert_close(b.tokens[:, white.demo_positions, :5], b.features @ M.T, rtol=0, atol=1e-12)
    torch.testing.assert_close(b.tokens[:, -1, :5], b.query @ M.T, rtol=0, atol=1e-12)
    feats = torch.cat([b.tokens[:, white.demo_positions, :5], b.tokens[:, -1:, :5]], 1).reshape(-1, 5)
    cov = (feats.T @ feats / feats.shape[0]).numpy()
    assert np.abs(cov - np.eye(5)).max() < 0.03
    # negative control: the given basis is far from white on this Σ
    raw = a.features.reshape(-1, 5)
    assert np.abs((raw.T @ raw / raw.shape[0]).numpy() - np.eye(5)).max() > 0.5


def test_unknown_feature_basis_is_refused():
    with pytest.raises(InvalidProblemError, match="feature_basis"):
        PromptFormat(feature_basis="pca")


def test_trainer_whitens_by_default_and_old_configs_keep_the_given_basis():
    pr = Problem.segmented(_toeplitz(4, 0.9), [5, 5], [0.3, 0.8], noise=0.5)
    cfg = TrainConfig.for_model("scalar")
    assert cfg.whiten_features
    assert cfg.prompt_format_for(pr).feature_basis == "whitened"
    assert cfg.prompt_format_for(pr).feature_scale == 1.0
    off = TrainConfig.for_model("scalar", whiten_features=False)
    assert off.prompt_format_for(pr).feature_basis == "given"
    assert off.prompt_format_for(pr).feature_scale == pytest.approx(np.sqrt(4 / np.trace(pr.sigma)))
    saved = cfg.to_dict()
    assert TrainConfig.from_dict(saved).whiten_features  # a round trip keeps it
    del saved["whiten_features"]  # a config.json written before the field existed
    assert not TrainConfig.from_dict(saved).whiten_features


def _conditioning_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "feature_conditioning.py"
    spec = importlib.util.spec_from_file_location("feature_conditioning", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_whitened_curvature_model_is_diagonal_with_spread_at_most_kappa():
    """``benchmarks/feature_conditioning.py``: on a rotated Σ (Toeplitz 0.95, κ ≈ 163 at d = 5) the
    curvature model in the given basis is mostly off its diagonal and its condition number exceeds
    κ² (it scales like κ³); whitened it is diagonal with condition number at most κ. Control: on
    a diagonal Σ with the same eigenvalues the given basis is diagonal too (what Adam can rescale)."""
    cond = _conditioning_script().conditioning
    sigma = _toeplitz(5, 0.95)
    lam = np.linalg.eigvalsh(sigma)
    kappa = lam.max() / lam.min()
    pr = Problem.segmented(sigma, [20, 20], [0.3, 0.8], noise=0.5)
    given, white = cond(pr, False), cond(pr, True)
    assert given["H_offdiag_share"] > 0.5 and given["H_cond"] > kappa**2
    assert white["H_offdiag_share"] < 1e-12 and white["H_cond"] <= kappa * (1 + 1e-9)
    diag = cond(Problem.segmented(np.diag(lam), [20, 20], [0.3, 0.8], noise=0.5), False)
    assert diag["H_offdiag_share"] < 1e-12


def test_sampler_whitens_a_singular_sigma_on_its_range():
    """Rank-2 Σ in d = 4: the whitened token features are ``x Mᵀ`` (to the √rounding that
    ``psd_factor`` leaves along the null directions), exactly 0 along the two null directions,
    and white on the range. Control: the given basis puts nonzero values in every coordinate."""
    pr = Problem.segmented(_singular(), [4, 4], [0.3, 0.8], noise=0.1)
    white = PromptSampler(pr, WHITE, dtype=torch.float64)
    b = white.sample(4096, make_generator(1))
    feats = b.tokens[:, white.demo_positions, :4].reshape(-1, 4)
    M = torch.as_tensor(WHITE.feature_map(pr.sigma))
    torch.testing.assert_close(feats, b.features.reshape(-1, 4) @ M.T, rtol=0, atol=1e-6)
    zero = (feats == 0).all(0)
    assert int(zero.sum()) == 2
    cov = (feats.T @ feats / feats.shape[0]).numpy()
    np.testing.assert_allclose(cov[~zero.numpy()][:, ~zero.numpy()], np.eye(2), atol=0.06)
    given = PromptSampler(pr, PromptFormat(delimiter="flag"), dtype=torch.float64).sample(64, make_generator(1))
    assert not (given.tokens[:, :, :4] == 0).all(0).all(0).any()


def test_identity_sigma_tokens_are_the_draws_in_either_basis():
    """For Σ = I the whitened map is exactly the identity and the sampler writes the same tokens
    in both bases, bit for bit (the runs with Σ = I are unchanged by whitening)."""
    pr = Problem.segmented(np.eye(5), [3, 3], [0.3, 0.8], noise=0.5)
    assert np.array_equal(WHITE.feature_map(pr.sigma), np.eye(5))
    a = PromptSampler(pr, PromptFormat(delimiter="flag")).sample(256, make_generator(4))
    b = PromptSampler(pr, WHITE).sample(256, make_generator(4))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.target, b.target)
    # control: for a rotated Σ the two bases write different tokens from the same draws
    rot = Problem.segmented(_toeplitz(5, 0.5), [3, 3], [0.3, 0.8], noise=0.5)
    c = PromptSampler(rot, PromptFormat(delimiter="flag")).sample(256, make_generator(4))
    w = PromptSampler(rot, WHITE).sample(256, make_generator(4))
    assert torch.equal(c.target, w.target) and not torch.allclose(c.tokens, w.tokens, atol=1e-3)
