"""Problem-spec parsing: every covariance/task form, and every kind of bad file."""

from pathlib import Path

import numpy as np
import pytest
from spec_corpus import BAD_SPECS, _spec

from wpgd.numerics import SpecError, load_spec, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(tmp_path, text):
    f = tmp_path / "spec.toml"
    f.write_text(text)
    return load_spec(f)


def test_examples_parse():
    for f in sorted(EXAMPLES.glob("*.toml")):
        pr = load_spec(f)
        assert pr.n >= 1 and pr.d >= 1


def test_covariance_forms(tmp_path):
    assert np.array_equal(_load(tmp_path, _spec()).sigma, np.eye(3))
    assert np.array_equal(_load(tmp_path, _spec("{diag = [1, 2, 3]}")).sigma, np.diag([1.0, 2, 3]))
    toe = _load(tmp_path, _spec("{toeplitz = 0.5}")).sigma
    assert toe[0, 2] == 0.25 and toe[2, 1] == 0.5
    np.save(tmp_path / "s.npy", 2 * np.eye(3))
    assert _load(tmp_path, _spec('{file = "s.npy"}')).sigma[1, 1] == 2.0
    inline = _load(tmp_path, _spec("{matrix = [[2, 1, 0], [1, 2, 0], [0, 0, 1]]}")).sigma
    assert inline[0, 1] == 1.0


def test_segment_defaults_and_dense_matrix(tmp_path):
    pr = _load(tmp_path, _spec())
    assert pr.segment_sizes == (2, 3)
    assert np.array_equal(pr.segment_correlation, np.eye(2)) and pr.query_variance == 1.0 and pr.noise == 0.1
    np.save(tmp_path / "rbar.npy", np.eye(4))
    pr = _load(tmp_path, _spec(tasks='matrix = {file = "rbar.npy"}'))
    assert pr.n == 3 and not pr.is_segmented


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_specs(tmp_path, name):
    text, exc, msg = BAD_SPECS[name]
    with pytest.raises(exc, match=msg):
        _load(tmp_path, text)


def test_missing_file_and_non_table():
    with pytest.raises(SpecError, match="cannot read"):
        load_spec("/nonexistent/spec.toml")
    with pytest.raises(SpecError, match="must be a table"):
        parse_spec({"features": 3, "tasks": {}})
