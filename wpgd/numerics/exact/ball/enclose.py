"""Rigorous enclosure of a symmetric matrix's spectrum and of its spectral measure (Arb balls).

For a symmetric ``H`` (an ``arb_mat`` whose balls contain the exact matrix) and a vector ``b``,
the *spectral measure* is ``ν = Σ_k (z_kᵀb)² δ_{λ_k}`` (z_k orthonormal eigenvectors). It does
not depend on how eigenvectors of a repeated eigenvalue are chosen, and neither does anything
the secular functions need: per *cluster* J of eigenvalues, an interval containing them and
the total mass ``‖P_J b‖²`` (P_J the spectral projector). :func:`enclose` proves both
(docs/certificate.md §2):

1. ``X`` = float64 eigenvectors (``numpy.linalg.eigh`` of the midpoint matrix), optionally
   refined in Arb (Ogita–Aishima iteration, each step squares the error) — any exact X works,
   the bounds below do not assume it is accurate.
2. In ball arithmetic: ``B = XᵀHX``, ``G = XᵀX``. With ``η ≥ ‖G − I‖₂`` (< 1/2) the matrix
   ``Y = X G^{-1/2}`` is exactly orthogonal, ``M = YᵀHY`` is orthogonally similar to H, and
   ``‖M − B‖₂ ≤ ‖B‖₂(2κ + κ²)`` with ``κ = (1 − η)^{-1/2} − 1``.
3. *Weyl*: with ``D = diag(mid B)`` and ``f ≥ ‖M − D‖₂`` (Frobenius norm of B − D plus step 2),
   the k-th smallest eigenvalue of H lies in ``[d_(k) − f, d_(k) + f]``.
4. *Clusters*: consecutive sorted d's closer than ``τ = max(4f, √(f·max|d|))`` are merged. A
   cluster's eigenvalues lie in ``[d_first − f, d_last + f]``; the other eigenvalues are at
   least ``δ = gap − 2f > 0`` away. *Davis–Kahan* (sin θ theorem) bounds the angle between the
   coordinate subspace of J and the cluster's invariant subspace of M by ``r_J/δ`` with
   ``r_J ≥ ‖(M − D)[J^c, J]‖₂``, hence ``‖P_J b̃ ‖ ∈ ‖c_J‖ ± (κ‖c‖ + (1+κ)‖c‖ r_J/δ)`` with
   ``c = Xᵀb`` and ``b̃ = Yᵀb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wpgd.numerics.core.errors import SolverError
from wpgd.numerics.exact.ball._flint import flint

__all__ = ["SpectralEnclosure", "enclose", "arb_matrix", "hull", "norm_bounds"]


@dataclass(frozen=True, eq=False)
class SpectralEnclosure:
    """Proven enclosure of a symmetric matrix's spectrum (and of its spectral measure).

    Attributes:
        atoms: one ``arb`` per cluster (ascending) containing every eigenvalue of the cluster.
        masses: ``arb`` total mass ‖P_J b‖² per cluster, or None when no vector was given.
        sizes: number of eigenvalues in each cluster.
        radius: f, the proven bound ‖M − D‖₂ (float, rounded up), absolute.
        orthogonality: η ≥ ‖XᵀX − I‖₂ (float).
        refinements: Ogita–Aishima steps applied to the float64 eigenvectors.
        min_eig: lower bound of the smallest eigenvalue (``arb``, exact).
    """

    atoms: np.ndarray
    masses: np.ndarray | None
    sizes: tuple[int, ...]
    radius: float
    orthogonality: float
    refinements: int
    min_eig: object

    @property
    def clusters(self) -> int:
        """Number of clusters (atoms)."""
        return len(self.sizes)


def arb_matrix(a: np.ndarray):
    """Exact ``arb_mat`` of a float64 matrix."""
    a = np.asarray(a, dtype=np.float64)
    return flint().arb_mat(a.shape[0], a.shape[1], a.ravel().tolist())


def hull(lo, hi):
    """A ball containing the interval [lo, hi] (arb endpoints)."""
    return lo.union(hi)


_abs_up = np.frompyfunc(lambda x: x.abs_upper(), 1, 1)
_upper = np.frompyfunc(lambda x: x.upper(), 1, 1)
_to_float = np.frompyfunc(lambda x: float(x.mid()), 1, 1)


def _entries(m, n):
    return np.array(m.entries(), dtype=object).reshape(n, n)


def enclose(hmid: np.ndarray, h=None, *, hrad: np.ndarray | None = None, vectors: np.ndarray | None = None, b=None,
            diagonal: bool = False, clip: bool = True, scale_floor: float | None = None, target_bits: int = 40,
            max_refine: int = 4, fast: bool = False) -> SpectralEnclosure:
    """Enclose the eigenvalues of a symmetric matrix and, given ``b``, its spectral measure.

    Args:
        hmid: float64 symmetric matrix, shape (n, n): the midpoint used for the float64
            eigenvectors (and the exact matrix when ``h`` is None).
        h: ``arb_mat`` (n×n) whose balls contain the exact matrix; None: ``hmid`` exactly.
        hrad: float64 upper bounds of ``|h − hmid|`` entrywise (None: h = hmid exactly).
        vectors: float64 approximate eigenvectors (columns), e.g. from a cached ``eigh``;
            computed if None.
        b: list of n ``arb`` (the vector of the measure), or None (eigenvalues only).
        diagonal: the exact matrix is diagonal (its eigenvectors are the coordinate vectors).
        clip: the exact matrix is known to be positive semidefinite: clip atoms at 0.
        scale_floor: refine the eigenvectors until f ≤ 2^-target_bits · scale_floor
            (default: the largest |eigenvalue|); the working precision must allow it.
        target_bits: see ``scale_floor``.
        max_refine: at most this many Ogita–Aishima steps.
        fast: B and G as float64 midpoint–radius products (a priori error bound, much faster
            but looser, no refinement) instead of Arb products.

    Returns:
        A :class:`SpectralEnclosure`.

    Raises:
        SolverError: the float64 eigenvectors are too far from orthogonal (η ≥ 1/2).
    """
    fl = flint()
    arb = fl.arb
    hmid = np.asarray(hmid, dtype=np.float64)
    n = hmid.shape[0]
    zero = arb(0)
    if diagonal:
        h = arb_matrix(hmid) if h is None else h
        diag = [h[i, i] for i in range(n)]
        order = sorted(range(n), key=lambda i: float(diag[i].mid()))
        atoms = np.array([_clip(diag[i], clip) for i in order], dtype=object)
        masses = None if b is None else np.array([b[i] * b[i] for i in order], dtype=object)
        return SpectralEnclosure(atoms, masses, (1,) * n, 0.0, 0.0, 0, min(diag, key=lambda x: float(x.mid())).lower())
    xf = np.linalg.eigh(hmid)[1] if vectors is None else np.asarray(vectors, dtype=np.float64)
    xa = None
    if fast:
        bnd = _bounds_float(hmid, hrad, xf)
    else:
        h = arb_matrix(hmid) if h is None else h
        xa = arb_matrix(xf)
        xt = xa.transpose()
        bnd = _bounds(xt * (h * xa), xt * xa, n)
    refinements, best, worse = 0, None, 0
    while True:
        cl = _clusters(bnd, n)
        floor = float(max(abs(x) for x in bnd["d"]).mid()) if scale_floor is None else scale_floor
        f_off = float(cl["f_off"])
        if best is None or f_off < best[0]:
            best, worse = (f_off, bnd, cl, xa, refinements), 0
        else:
            worse += 1  # Ogita–Aishima can overshoot once inside a tight cluster, then converges
        if fast or refinements >= max_refine or f_off <= 2.0 ** (-target_bits) * floor or worse >= 2:
            break
        xa = (xa + xa * arb_matrix(_oa_update(bnd, hmid))).mid()
        refinements += 1
        xt = xa.transpose()
        bnd = _bounds(xt * (h * xa), xt * xa, n)
        rot = _cluster_rotation(bnd, hmid)
        if rot is not None:
            xa = (xa * rot).mid()
            xt = xa.transpose()
            bnd = _bounds(xt * (h * xa), xt * xa, n)
    _, bnd, cl, xa, refinements = best
    groups, order = cl["groups"], cl["order"]
    atoms = np.array([_clip(a, clip) for a in cl["atoms"]], dtype=object)
    sizes = tuple(len(g) for g in groups)
    min_eig = cl["atoms"][0].lower()
    if b is None:
        return SpectralEnclosure(atoms, None, sizes, float(cl["f_off"]), bnd["eta"], refinements, min_eig)
    kappa = bnd["kappa"]
    if xa is None:
        c = _float_product_balls(xf, b)
    else:
        c = (xa.transpose() * fl.arb_mat(n, 1, list(b))).entries()
    normc = norm_bounds(c)[1]
    masses = []
    for k, g in enumerate(groups):
        nlo, nhi = norm_bounds([c[order[j]] for j in g])
        if len(groups) == 1:
            stheta = zero
        else:
            a, bb = cl["inner"][k]
            dist = [a - cl["atoms"][k - 1].upper()] if k > 0 else []
            dist += [cl["atoms"][k + 1].lower() - bb] if k + 1 < len(groups) else []
            delta = min(x.lower() for x in dist)
            stheta = arb(1) if not delta > 0 else min(arb(1), (cl["r"][k] / delta).upper())
        err = (kappa * normc + stheta * (1 + kappa) * normc).upper()
        lo = max(zero, (nlo - err).lower())
        hi = (nhi + err).upper()
        masses.append(hull((lo * lo).lower(), (hi * hi).upper()))
    return SpectralEnclosure(atoms, np.array(masses, dtype=object), sizes, float(cl["f_off"]), bnd["eta"],
                             refinements, min_eig)


def _clusters(bnd, n) -> dict:
    """Group the sorted diagonal into clusters whose eigenvalue intervals are disjoint.

    Within a cluster J, B_JJ's eigenvalues lie in [min d_J − e_J, max d_J + e_J] with
    e_J = ‖B_JJ − D_J‖_F + dB; the inter-cluster part has ‖F_off‖₂ ≤ f_off; Weyl on
    M = blockdiag(M_JJ) + F_off then puts exactly |J| eigenvalues in the widened interval.
    """
    arb = flint().arb
    zero = arb(0)
    d, u2, col2, db = bnd["d"], bnd["U2"], bnd["col2"], bnd["dB"]
    order = sorted(range(n), key=lambda i: float(d[i].mid()))
    ds = [d[i] for i in order]
    tau = (4 * 4096 * bnd["f_arb"]).upper()
    groups, cur = [], [0]
    for k in range(n - 1):
        if (ds[k + 1] - ds[k]).lower() > tau:
            groups.append(cur)
            cur = [k + 1]
        else:
            cur.append(k + 1)
    groups.append(cur)
    while True:
        inner, r, r2 = [], [], []
        for g in groups:
            idx = [order[j] for j in g]
            intra = sum((arb(u2[i, j]) for i in idx for j in idx), zero)
            e_j = (intra.sqrt() + db).upper()
            inner.append(((ds[g[0]] - e_j).lower(), (ds[g[-1]] + e_j).upper()))
            off = (sum((col2[i] for i in idx), zero) - intra).upper().max(zero)
            r2.append(off)
            r.append((off.sqrt() + db).upper())
        f_off = (sum(r2, zero).sqrt() + db).upper()
        atoms = [hull((a - f_off).lower(), (bb + f_off).upper()) for a, bb in inner]
        bad = [k for k in range(len(groups) - 1) if not atoms[k].upper() < atoms[k + 1].lower()]
        if not bad:
            return {"groups": groups, "ds": ds, "order": order, "inner": inner, "r": r, "f_off": f_off,
                    "atoms": atoms}
        k = bad[0]
        groups = groups[:k] + [groups[k] + groups[k + 1]] + groups[k + 2:]


def norm_bounds(xs):
    """(lower, upper) exact bounds of the 2-norm of a list of balls."""
    arb = flint().arb
    lo = sum((x.abs_lower() ** 2 for x in xs), arb(0)).lower().max(arb(0)).sqrt().lower()
    hi = sum((x.abs_upper() ** 2 for x in xs), arb(0)).upper().sqrt().upper()
    return lo, hi


def _clip(x, clip: bool):
    if not clip or x.lower() >= 0:
        return x
    return hull(flint().arb(0), x.upper())


def _bounds(bm, gm, n) -> dict:
    """Weyl radius f, orthogonality η and the column norms of B − D (docs/certificate.md §2)."""
    arb = flint().arb
    bl = _entries(bm, n)
    gl = _entries(gm, n)
    d = [bl[i, i].mid() for i in range(n)]
    for i in range(n):
        bl[i, i] = bl[i, i] - d[i]
        gl[i, i] = gl[i, i] - 1
    bu = _abs_up(bl)
    u2 = _upper(bu * bu)
    col2 = _upper(u2.sum(axis=0))
    gu = _abs_up(gl)
    eta = arb(_upper((gu * gu).sum())).sqrt().upper()
    return _finish_bounds(d, u2, list(col2), eta, np.array(_to_float(bl), dtype=np.float64),
                          -np.array(_to_float(gl), dtype=np.float64))


def _finish_bounds(d, u2, col2, eta, sf, rf) -> dict:
    """κ, ‖M − B‖ ≤ dB and the Weyl radius from the column norms (all rounded up)."""
    arb = flint().arb
    if not eta < 0.5:
        raise SolverError(f"float64 eigenvectors too far from orthogonal (‖XᵀX − I‖ ≤ {float(eta):.3g} is not < 1/2)")
    kappa = ((1 - eta).rsqrt() - 1).upper()
    f_off = arb(sum(col2, arb(0))).sqrt().upper()
    norm_b = (max(abs(x) for x in d) + f_off).upper()
    db = (norm_b * (2 * kappa + kappa * kappa)).upper()
    f_arb = (f_off + db).upper()
    return {"d": d, "U2": u2, "col2": col2, "kappa": kappa, "eta": float(eta), "dB": db, "f_arb": f_arb,
            "f": float(f_arb), "Sf": sf, "Rf": rf}


_U = 2.0**-53


def _up(x, n: int):
    """Upper bound of a float64 result that summed n non-negative rounded terms (a priori bound)."""
    return x * (1 + 8 * (n + 4) * _U) + (n + 4) * 2.0**-1000


def _bounds_float(hmid, hrad, x) -> dict:
    """As :func:`_bounds`, with B = XᵀHX and G = XᵀX as float64 midpoint–radius products.

    The radius of a float64 product uses the a priori bound ``|fl(AB) − AB| ≤ γ_n |A||B|``,
    valid in any summation order under round-to-nearest (Higham, Accuracy and Stability,
    §3.5), with γ_n ≤ 2(n + 2)u, and every radius computation rounded up by :func:`_up`.
    """
    arb = flint().arb
    n = x.shape[0]
    gam = 2 * (n + 2) * _U
    ax = np.abs(x)
    hx = hmid @ x
    r_hx = gam * (np.abs(hmid) @ ax)
    if hrad is not None:
        r_hx = r_hx + hrad @ ax
    r_hx = _up(r_hx, n)
    bm = x.T @ hx
    r_b = _up(gam * (ax.T @ np.abs(hx)) + ax.T @ r_hx, n)
    gm = x.T @ x
    r_g = _up(gam * (ax.T @ ax), n)
    d = np.diag(bm).copy()
    fabs = np.abs(bm)
    np.fill_diagonal(fabs, 0.0)
    fabs = _up(fabs + r_b, 2)
    u2 = _up(fabs * fabs, 1)
    col2 = [arb(float(v)) for v in _up(u2.sum(axis=0), n)]
    e = _up(np.abs(gm - np.eye(n)) + r_g, 2)
    eta = arb(float(_up((e * e).sum(), n * n))).sqrt().upper()
    sf = bm - np.diag(d)
    return _finish_bounds([arb(float(v)) for v in d], u2, col2, eta, sf, np.eye(n) - gm)


def _float_product_balls(x, b):
    """Balls of Xᵀb for a float64 X and a list of ``arb`` b (a priori product bound)."""
    arb = flint().arb
    n = x.shape[0]
    bm = np.array([float(v.mid()) for v in b])
    br = np.array([float(v.rad()) for v in b]) * (1 + 2.0**-40)
    ax = np.abs(x)
    c = x.T @ bm
    rc = _up(2 * (n + 2) * _U * (ax.T @ np.abs(bm)) + ax.T @ br, n)
    return [arb(float(c[i]), float(rc[i])) for i in range(n)]


def _oa_pairs(bnd, hmid):
    """S, R = I − XᵀX, λ̃, and the pairs the first-order update may separate (|ẽ_ij| < 2^-26)."""
    s = bnd["Sf"] + np.diag([float(x) for x in bnd["d"]])
    r = bnd["Rf"]
    lt = np.diag(s) / (1.0 - np.diag(r))
    delta = 2.0 * (np.linalg.norm(s - np.diag(lt)) + np.linalg.norm(hmid, 2) * np.linalg.norm(r))
    diff = lt[None, :] - lt[:, None]
    num = s + lt[None, :] * r
    far = (np.abs(diff) > delta) & (np.abs(num) < 2.0**-26 * np.abs(diff))
    far = far & far.T
    return s, r, lt, num, diff, far


def _cluster_rotation(bnd, hmid) -> np.ndarray | None:
    """Rotation diagonalising X_JᵀHX_J inside each Ogita–Aishima cluster (|λ̃_i − λ̃_j| ≤ δ).

    The first-order update cannot split eigenvalues closer than its own δ; a small symmetric
    eigenproblem on ``S_JJ − λ̄ G_JJ`` (formed from accurate Arb differences) can. None if no
    cluster has two or more members.
    """
    from scipy.sparse.csgraph import connected_components

    _, r, _, _, _, far = _oa_pairs(bnd, hmid)
    n = far.shape[0]
    close = ~far
    np.fill_diagonal(close, False)
    count, label = connected_components(close.astype(np.int8), directed=False)
    groups = [list(np.nonzero(label == k)[0]) for k in range(count)]
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return None
    fl = flint()
    d = bnd["d"]
    rot = np.array([fl.arb(1) if i == j else fl.arb(0) for i in range(n) for j in range(n)], dtype=object).reshape(n, n)
    for g in groups:
        idx = np.array(g)
        ref = d[g[0]]
        shift = np.array([float(d[i] - ref) for i in g])
        k = bnd["Sf"][np.ix_(idx, idx)] + np.diag(shift) + float(ref) * r[np.ix_(idx, idx)]
        _, v = np.linalg.eigh(0.5 * (k + k.T))
        va = arb_matrix(v)
        eye = fl.arb_mat(len(g), len(g), [1 if i == j else 0 for i in range(len(g)) for j in range(len(g))])
        for _ in range(6):  # Newton–Schulz: V ← V(3I − VᵀV)/2 makes V orthogonal to working precision
            va = (va * (3 * eye - va.transpose() * va) / 2).mid()
        rot[np.ix_(idx, idx)] = np.array(va.entries(), dtype=object).reshape(len(g), len(g))
    return fl.arb_mat(n, n, list(rot.ravel()))


def _oa_update(bnd, hmid) -> np.ndarray:
    """Ogita–Aishima correction Ẽ (float64; X ← X + XẼ squares the eigenvector error)."""
    _, r, _, num, diff, far = _oa_pairs(bnd, hmid)  # R = I − XᵀX
    e = np.where(far, num / np.where(far, diff, 1.0), 0.5 * r)
    np.fill_diagonal(e, 0.5 * np.diag(r))
    return e
