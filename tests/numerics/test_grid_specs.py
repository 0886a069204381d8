"""The committed training-grid specs (``docs/training_grid/``, ``benchmarks/train_grid.py --spec``)
are valid problems inside issue 9's supported range; a spec that is not (a joint task correlation
that is not positive semidefinite, as a draft of ``d32_toep_8seg`` was) is refused."""

from pathlib import Path

import pytest

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.spec import load_spec

GRID = Path(__file__).resolve().parents[2] / "docs" / "training_grid"
SPECS = sorted(GRID.rglob("*.toml"))


def test_there_are_grid_specs():
    assert len(SPECS) >= 20


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(GRID)))
def test_grid_spec_is_valid_and_in_the_supported_range(path):
    pr = load_spec(path)
    assert 1 <= pr.d <= 128 and 1 <= pr.n <= 1000
    assert 1 <= (pr.num_segments or 1) <= 8 and 0 <= pr.noise <= 2


def test_a_spec_with_an_invalid_correlation_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((GRID / "d32_toep_8seg.toml").read_text().replace(
        "query_correlation = [0.1, -0.3, 0.2, 0.0, 0.3, -0.2, 0.3, 0.7]",
        "query_correlation = [0.1, -0.3, 0.2, 0.0, 0.4, -0.2, 0.5, 0.8]"))
    with pytest.raises(InvalidProblemError, match="positive semidefinite"):
        load_spec(bad)
