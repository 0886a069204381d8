"""wpgd.theory.expectation: the user-facing front end of the Wick engine (vectors, matrices, traces)."""

import doctest

import numpy as np
import pytest
import sympy as sp

import wpgd.proofs_check.derivations
import wpgd.theory.expectation
from wpgd.theory.expectation import JointGaussian, symmetric_matrix


@pytest.mark.parametrize("module", [wpgd.theory.expectation, wpgd.proofs_check.derivations])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_fourth_moment_identity_and_its_negative_control():
    S = symmetric_matrix("S", 2)
    G = JointGaussian()
    x = G.vector("x", 2, S)
    A = sp.Matrix(2, 2, sp.symbols("A:4"))
    lhs = (x * x.T * A * x * x.T).applyfunc(G.expectation)
    right = S * (A + A.T) * S + (A * S).trace() * S
    assert sp.expand(lhs - right) == sp.zeros(2, 2)
    wrong = S * (A + A.T) * S  # the tr(AΣ)Σ term forgotten
    assert sp.expand(lhs - wrong) != sp.zeros(2, 2)


def test_matrix_normal_and_cross_covariance_against_sampling():
    rng = np.random.default_rng(4)
    G = JointGaussian()
    row = sp.Matrix([[2, sp.Rational(1, 2)], [sp.Rational(1, 2), 1]])
    col = sp.Matrix([[1, sp.Rational(-1, 3)], [sp.Rational(-1, 3), sp.Rational(3, 2)]])
    M = G.matrix("M", 2, 2, row_cov=row, col_cov=col)
    u = G.vector("u", 2, sp.eye(2))
    v = G.vector("v", 2, sp.eye(2))
    G.correlate(u, v, sp.Matrix([[sp.Rational(1, 2), 0], [0, sp.Rational(-1, 4)]]))
    poly = (u.T * M * M.T * v)[0] + M[0, 1] ** 2 * M[1, 0] ** 2 + (u.T * v)[0] ** 2
    exact = float(G.expectation(poly))
    n = 400_000
    cov_vec = np.kron(np.array(row, dtype=float), np.array(col, dtype=float))  # vec(M) row-major
    m = rng.multivariate_normal(np.zeros(4), cov_vec, size=n).reshape(n, 2, 2)
    uv = rng.multivariate_normal(np.zeros(4), np.block([[np.eye(2), np.diag([0.5, -0.25])],
                                                        [np.diag([0.5, -0.25]), np.eye(2)]]), size=n)
    uu, vv = uv[:, :2], uv[:, 2:]
    vals = (np.einsum("si,sij,skj,sk->s", uu, m, m, vv) + m[:, 0, 1] ** 2 * m[:, 1, 0] ** 2
            + np.einsum("si,si->s", uu, vv) ** 2)
    z = (vals.mean() - exact) / (vals.std(ddof=1) / np.sqrt(n))
    assert abs(z) < 5, (exact, vals.mean(), z)


def test_declaration_errors():
    G = JointGaussian()
    G.vector("x", 2, sp.eye(2))
    with pytest.raises(ValueError, match="already"):
        G.vector("x", 2, sp.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        G.vector("y", 2, sp.Matrix([[1, 2], [0, 1]]))
    with pytest.raises(ValueError, match="must be"):
        G.vector("z", 3, sp.eye(2))
    other = JointGaussian().vector("w", 2, sp.eye(2))
    with pytest.raises(ValueError, match="declared"):
        G.correlate(G._objects["x"], other, sp.eye(2))
    with pytest.raises(ValueError, match="applyfunc"):
        G.expectation(sp.Matrix([[1, 2]]))
