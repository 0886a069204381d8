"""The public Hypothesis strategies draw informative inputs, and the settings profiles exist.

Degenerate draws (P = 0 or ω = 0, where every formula gives the null risk; n = 1, where ω is a
scale) would make property tests pass vacuously, so their share is measured over 200 draws.
"""

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st

from wpgd.proofs_check import strategies as S


def draws(count=200, **problem_kwargs):
    seen = []

    @settings(max_examples=count, database=None, derandomize=True, phases=[Phase.generate], deadline=None)
    @given(S.problems(**problem_kwargs), st.data())
    def collect(pr, data):
        seen.append((pr, data.draw(S.preconditioners(pr.d)), data.draw(S.weights(pr.n))))

    collect()
    return seen


def shares(seen):
    n = len(seen)
    return {
        "zero": sum(not np.any(P) or not np.any(w) for _, P, w in seen) / n,
        "n1": sum(pr.n == 1 for pr, _, _ in seen) / n,
        "segments": sum(pr.is_segmented for pr, _, _ in seen) / n,
        "noise0": sum(pr.noise == 0 for pr, _, _ in seen) / n,
        "constant_arrays": sum(P.size > 1 and len(np.unique(P)) == 1 for _, P, _ in seen) / n,
    }


@pytest.mark.slow
def test_draws_are_informative():
    seen = draws()
    assert len(seen) == 200
    s = shares(seen)
    assert s["zero"] < 0.05, s
    assert s["n1"] < 0.10, s
    assert 0.30 <= s["segments"] <= 0.70, s
    assert s["noise0"] < 0.25, s
    assert s["constant_arrays"] < 0.05, s  # entries drawn independently, not one fill value


def test_edge_cases_stay_reachable():
    """``min_tokens=1`` and ``allow_zero=True`` still produce n = 1 and all-zero arrays."""
    seen = []

    @settings(max_examples=60, database=None, derandomize=True, phases=[Phase.generate], deadline=None)
    @given(S.problems(min_tokens=1, dim=st.just(1)), S.weights(1, allow_zero=True))
    def collect(pr, w):
        seen.append((pr.n, not np.any(w)))

    collect()
    assert any(n == 1 for n, _ in seen) and any(z for _, z in seen)


def test_settings_profiles_are_registered_and_selected_by_the_environment(monkeypatch):
    try:
        monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
        monkeypatch.setenv(S.PROFILE_ENV, "thorough")
        assert S.load_profile("ci") == "thorough" and settings.default.max_examples == 500
        monkeypatch.delenv(S.PROFILE_ENV)
        monkeypatch.setenv("HYPOTHESIS_PROFILE", "thorough")
        assert S.load_profile("ci") == "thorough" and settings.default.max_examples == 500
        monkeypatch.delenv("HYPOTHESIS_PROFILE")
        assert S.load_profile("ci") == "ci" and settings.default.max_examples == 30
        assert settings.default.derandomize and settings.default.deadline is None
    finally:
        monkeypatch.undo()
        S.load_profile("ci")  # what tests/conftest.py selected
