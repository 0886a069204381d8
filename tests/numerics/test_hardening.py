"""Hardening of the API (issue 11): scale-aware validation, real dtypes, projection at validation,
extreme scales (correct finite answers checked against a rescaled reference, or a documented
refusal), resource limits, and the hardening spec corpus."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from spec_corpus import HARD_SPECS, file_cases

from wpgd.numerics import (
    InvalidProblemError,
    Problem,
    ResourceLimitError,
    SpecError,
    class_optimum,
    load_spec,
    normalized_risk,
    risk,
    solve,
)
from wpgd.numerics.core.safety import PSD_RTOL, as_real_array, check_symmetric, validate_psd


def _load(tmp_path, text):
    f = tmp_path / "spec.toml"
    f.write_text(text, encoding="utf-8")
    return load_spec(f)


@pytest.mark.parametrize("name", sorted(HARD_SPECS))
def test_hard_specs(tmp_path, name):
    text, exc, msg = HARD_SPECS[name]
    with pytest.raises(exc, match=msg):
        _load(tmp_path, text)


@pytest.mark.parametrize("name", sorted(file_cases()))
def test_bad_array_files(tmp_path, name):
    files, text, exc, msg = file_cases()[name]
    for fname, data in files.items():
        (tmp_path / fname).write_bytes(data)
    if text is None:
        (tmp_path / "spec.toml").write_bytes(b"\xff\xfe[features]\n")
        with pytest.raises(exc, match=msg):
            load_spec(tmp_path / "spec.toml")
        return
    if exc is None:
        pr = _load(tmp_path, text)
        assert np.all(np.isfinite(pr.sigma)) and pr.sigma.dtype == np.float64
        return
    with pytest.raises(exc, match=msg) as info:
        _load(tmp_path, text)
    assert "SECRET" not in str(info.value)


def test_hidden_blocks_negative_control_old_rule_would_accept():
    # The old global rule (tolerance relative to the largest entry) accepted this matrix: its
    # eigenvalue -2 is 2e-12 of the largest. The equilibrated rule refuses it; the same block
    # alone, and the block scaled to be PSD, are judged identically with or without the big feature.
    bad = np.array([[1e12, 0, 0], [0, 1, 3], [0, 3, 1]])
    assert np.linalg.eigvalsh(bad)[0] > -1e-10 * 1e12  # what the old rule compared against
    with pytest.raises(InvalidProblemError, match="relative"):
        Problem.dense(bad, np.eye(3))
    good = np.array([[1e12, 0, 0], [0, 1, 0.9], [0, 0.9, 1]])
    assert validate_psd("Σ", good) is good  # exactly PSD: returned unchanged (no projection)


def test_asymmetry_is_judged_per_entry():
    with pytest.raises(InvalidProblemError, match="relative difference"):
        check_symmetric("A", np.array([[1e12, 0, 0], [0, 1, 40], [0, -40, 1]]))
    # rounding-level asymmetry of a tiny block next to a huge one is accepted (own scale)
    a = np.array([[1e12, 0, 0], [0, 1e-6, 5e-7 * (1 + 1e-14)], [0, 5e-7, 1e-6]])
    sym = check_symmetric("A", a)
    assert np.array_equal(sym, sym.T)


def test_psd_within_tolerance_is_projected_once():
    # eigenvalue -1e-15 (within tolerance): validation projects it, so the rest of the code sees
    # an exactly-PSD matrix and --class scalar no longer fails in a Cholesky factorisation.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    c = (q * np.array([-1e-15, 0.5, 1.5])) @ q.T
    c = 0.5 * (c + c.T)
    pr = Problem.segmented(np.eye(2), [3, 3, 3], c @ [0.1, 0.2, 0.3], correlation=c, noise=0.1)
    joint = pr.segment_joint_matrix
    d = np.sqrt(np.diag(joint))
    assert np.linalg.eigvalsh(joint / np.outer(d, d))[0] >= -1e-15
    assert np.max(np.abs(pr.segment_correlation - c)) < 1e-13  # a projection, not a different problem
    res = class_optimum(pr, "scalar")
    assert np.isfinite(res.risk) and res.normalized_risk <= 1 + 1e-12


def test_projection_threshold_negative_control():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    for lam0, ok in ((-0.1 * PSD_RTOL, True), (-10 * PSD_RTOL, False)):
        a = (q * np.array([lam0, 1.0, 1.0])) @ q.T
        a = 0.5 * (a + a.T)
        if ok:
            assert np.linalg.eigvalsh(validate_psd("A", a))[0] >= -1e-15
        else:
            with pytest.raises(InvalidProblemError, match="not positive semidefinite"):
                validate_psd("A", a)


@pytest.mark.parametrize("value,what", [
    (np.eye(2, dtype=bool), "boolean"), (np.eye(2) * 1j, "complex"), (np.array([["1"]]), "string"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime"), ([[1, True]], "boolean"),
    ([[1, "2"]], "real numeric"), ([1, None], "real numeric"), (np.array([1, 2], dtype=object), "object"),
    ([1, 10**400], "float64 range"), ([[1, 2], [3]], "rectangular"), (1 + 2j, "real numeric"),
])
def test_real_dtypes_only(value, what):
    with pytest.raises(InvalidProblemError, match=what):
        as_real_array("x", value)


def test_real_dtypes_accepted():
    for value in ([1, 2.5], np.arange(3, dtype=np.int8), np.ones(2, dtype=np.float32), np.uint64(3), 10**20):
        out = as_real_array("x", value)
        assert out.dtype == np.float64 and np.all(np.isfinite(out))


# ------------------------------------------------------------------------- extreme scales
def _base():
    return Problem.segmented(np.diag([1.0, 2.0, 3.0]), [3, 4], [0.3, 0.5], correlation=[[1.0, 0.2], [0.2, 1.0]],
                             noise=0.3)


def _scaled(s, t, noise_factor=1.0):
    """The base problem with features × √s and tasks × √t: L scales by s·t (exact reference)."""
    b = _base()
    return Problem.segmented(b.sigma * s, b.segment_sizes, b.query_correlation * t,
                             correlation=b.segment_correlation * t, query_variance=b.query_variance * t,
                             noise=b.noise * s * t * noise_factor)


@pytest.mark.parametrize("s,t", [(1e200, 1.0), (1e-200, 1.0), (1.0, 1e-300), (1e-150, 1e150), (1e100, 1e-250),
                                 (2.0**-1000, 1.0), (1e300, 1e-300)])
def test_solver_and_risk_at_extreme_scales_match_the_rescaled_reference(s, t):
    ref, pr = solve(_base()), _scaled(s, t)
    opt = solve(pr)
    assert opt.converged and np.isfinite(opt.risk)
    assert opt.normalized_risk == pytest.approx(ref.normalized_risk, rel=1e-10)
    assert opt.risk == pytest.approx(ref.risk * s * t, rel=1e-10)
    np.testing.assert_allclose(opt.omega, ref.omega, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(opt.P * s, ref.P, rtol=1e-9, atol=1e-12 * np.max(np.abs(ref.P)))
    # the closed-form risk of the returned pair, in original units, agrees with the solver
    assert risk(pr, opt.P, opt.omega) == pytest.approx(opt.risk, rel=1e-9)
    assert normalized_risk(pr, opt.P, opt.omega) == pytest.approx(ref.normalized_risk, rel=1e-9)


@pytest.mark.parametrize("noise", [1e200, 1e308])
def test_noise_dominated_problem_is_finite(noise):
    pr = Problem.segmented(np.eye(3), [2, 3], [0.2, 0.8], noise=noise)
    opt = solve(pr)
    # a residual that overflows float64 would be reported as inf (not converged), never NaN
    assert opt.converged == all(v < 1e-8 for v in opt.residuals.values())
    assert opt.normalized_risk == pytest.approx(1.0, abs=1e-12) and np.isfinite(opt.risk)
    # with σ² ≫ signal, ω* ∝ (μM2)^{-1} r ∝ r: the query correlations, normalised to max 1
    np.testing.assert_allclose(opt.omega, [0.25, 0.25, 1, 1, 1], rtol=1e-9)
    assert risk(pr, opt.P, opt.omega) == pytest.approx(opt.risk, rel=1e-12)


def test_risk_that_overflows_is_refused_not_nan():
    pr = Problem.segmented(np.eye(3) * 1e200, [2, 3], [0.2, 0.8], noise=0.1)
    with pytest.raises(InvalidProblemError, match="overflows float64 \\(about 1e60"):
        risk(pr)  # P = I: the true risk is ~1e602
    # a representable risk at the same scale: L(P; Σ, σ²) = s·L(sP; Σ/s, σ²/s) (exact reference)
    unit = Problem.segmented(np.eye(3), [2, 3], [0.2, 0.8], noise=0.1e-200)
    assert risk(pr, np.eye(3) * 1e-200) == pytest.approx(1e200 * risk(unit, np.eye(3)), rel=1e-12)


def test_problem_with_overflowing_label_variance_is_refused():
    with pytest.raises(InvalidProblemError, match="overflows float64"):
        Problem.segmented(np.eye(3), [2], [0.1], query_variance=1e308)
    with pytest.raises(InvalidProblemError, match="tr Σ overflows"):
        Problem.segmented(np.eye(3) * 1e308, [2], [0.1])


_exps = st.integers(-300, 300)


@given(es=_exps, et=_exps, noise_exp=st.integers(-30, 30))
def test_hypothesis_scale_covariance_of_the_optimum(es, et, noise_exp):
    s, t = 10.0**es, 10.0**et
    b = _base()
    if not (np.isfinite(s * t * 10.0**noise_exp) and s * t * b.noise * 10.0**noise_exp > 0):
        return
    try:
        pr = _scaled(s, t, 10.0**noise_exp)
    except InvalidProblemError as exc:
        assert "overflows" in str(exc)
        return
    ref = solve(Problem.segmented(b.sigma, b.segment_sizes, b.query_correlation, correlation=b.segment_correlation,
                                  query_variance=b.query_variance, noise=b.noise * 10.0**noise_exp))
    opt = solve(pr)
    assert opt.normalized_risk == pytest.approx(ref.normalized_risk, rel=1e-8, abs=1e-14)
    np.testing.assert_allclose(opt.omega, ref.omega, rtol=1e-8, atol=1e-12)


@given(scale=st.floats(1e-300, 1e300), d=st.integers(1, 4), k=st.integers(1, 3))
def test_hypothesis_constructors_at_extreme_scales(scale, d, k):
    # Problem.dense / Problem.segmented either accept (and then solve to a finite answer) or refuse
    # with the documented exception; never NaN, never another exception.
    rng = np.random.default_rng(d * 7 + k)
    a = rng.standard_normal((d, d))
    sigma = scale * (a @ a.T + 0.1 * np.eye(d))
    try:
        pr = Problem.segmented(sigma, [2] * k, np.linspace(0.1, 0.5, k), noise=0.1)
    except InvalidProblemError:
        return
    opt = solve(pr)
    assert np.isfinite(opt.risk) and 0 <= opt.normalized_risk <= 1 + 1e-9
    assert np.all(np.isfinite(opt.P)) and np.all(np.isfinite(opt.omega))


# ------------------------------------------------------------------------- resources
def test_resource_limits_refuse_with_the_estimate(monkeypatch):
    monkeypatch.setenv("WPGD_MAX_MEMORY_GB", "1")
    with pytest.raises(ResourceLimitError, match="GB of memory, over the limit of 1 GB"):
        solve(Problem.segmented(np.eye(2), [10**9, 10**9], [0.2, 0.8]))  # ω* would need 48 GB
    monkeypatch.setenv("WPGD_MAX_MEMORY_GB", "nan")
    with pytest.raises(ResourceLimitError, match="WPGD_MAX_MEMORY_GB must be a positive number"):
        solve(Problem.segmented(np.eye(2), [3], [0.2]))


def test_structured_path_keeps_its_strength():
    # n = 10^7 tokens: solved (ω* materialised: 80 MB), no n×n matrix anywhere
    pr = Problem.segmented(np.eye(3), [5 * 10**6, 5 * 10**6], [0.2, 0.8], noise=0.1)
    opt = solve(pr)
    assert opt.converged and opt.omega.shape == (10**7,)


def test_many_segments_refused_before_allocating(monkeypatch):
    monkeypatch.setenv("WPGD_MAX_MEMORY_GB", "0.5")
    with pytest.raises(ResourceLimitError, match="segment task correlation"):
        Problem.segmented(np.eye(2), [1] * 10**5, np.zeros(10**5))


def test_spec_error_is_a_problem_error():
    assert issubclass(SpecError, InvalidProblemError) and issubclass(ResourceLimitError, InvalidProblemError)


_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5) | st.complex_numbers(),
    lambda children: st.lists(children, max_size=4),
    max_leaves=20,
)


@given(sigma=_junk, rbar=_junk, noise=_junk)
def test_hypothesis_constructors_refuse_junk_with_the_documented_error(sigma, rbar, noise):
    for build in (lambda: Problem.dense(sigma, rbar, noise),
                  lambda: Problem.segmented(sigma, rbar, rbar, noise=noise)):
        try:
            pr = build()
        except InvalidProblemError:
            continue
        # accepted: then it is a finite, validated problem that solves to a finite answer
        assert np.all(np.isfinite(pr.sigma)) and np.isfinite(pr.null_risk)
        opt = solve(pr)
        assert np.isfinite(opt.risk) and np.all(np.isfinite(opt.omega))
