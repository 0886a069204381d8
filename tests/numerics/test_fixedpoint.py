"""The fixed-point scan on synthetic increasing maps with known fixed points."""

import numpy as np
import pytest

from wpgd.numerics.core.fixedpoint import find_fixed_points


def polynomial_map(roots_x, slope):
    """log T(eˣ) = x − c·Π(x − r_i): increasing on [−3, 3] for small c, fixed points at the r_i."""
    roots_x = np.asarray(roots_x)

    def f(x):
        x = np.asarray(x, dtype=np.float64)
        return x - slope * np.prod(x[..., None] - roots_x, axis=-1)

    return f


@pytest.mark.parametrize("roots", [[0.0], [-1.0, 0.0, 1.5], [-2.0, -1.5, 0.3]])
def test_finds_every_simple_root(roots):
    f = polynomial_map(roots, 0.005)
    scan = find_fixed_points(f, np.exp(-3.0), np.exp(3.0))
    np.testing.assert_allclose(np.log(scan.roots), roots, atol=1e-12)
    assert scan.unresolved == ()


def test_close_roots_with_slope_near_one_are_found_and_flagged():
    """Slope of T ≈ 1 − 1e-3 at the roots: the exclusion cannot shrink the clusters, so the
    cell budget runs out; every root is still bracketed and the clusters are reported."""
    scan = find_fixed_points(polynomial_map([-2.0, -1.9, 0.3], 0.005), np.exp(-3.0), np.exp(3.0))
    np.testing.assert_allclose(np.log(scan.roots), [-2.0, -1.9, 0.3], atol=1e-12)
    assert len(scan.unresolved) >= 1


def test_near_tangency_is_reported_not_hidden():
    # log T = x − 0.2(x − 0.5)² − 1e-13 (increasing on [−1, 2]): no root, but G comes within 1e-13 of 0.
    def f(x):
        x = np.asarray(x, dtype=np.float64)
        return x - 0.2 * (x - 0.5) ** 2 - 1e-13

    scan = find_fixed_points(f, np.exp(-1.0), np.exp(2.0), min_width=1e-10)
    assert scan.roots == () and len(scan.unresolved) >= 1
    lo, hi = scan.unresolved[0]
    assert np.log(lo) <= 0.5 + 1e-3 and np.log(hi) >= 0.5 - 1e-3


def test_constant_map_on_degenerate_interval():
    scan = find_fixed_points(lambda x: np.full(np.shape(x), np.log(2.0)), 2.0, 2.0)
    assert scan.roots == (pytest.approx(2.0, rel=1e-15),)
