"""The project's population risk of WPGD (docs/risk.md, docs/theory.md §4): the claim holds.

    wpgd check-derivation examples/derivations/paper_risk.py

L(P, ω) = r_q tr Σ + σ² − 2 tr(PΣ²) rᵀω + tr(PᵀΣPΣ²) ωᵀ(R + D_R)ω
          + tr(PᵀΣPΣ) (tr Σ · ωᵀD_Rω + σ² ωᵀω)
"""

from wpgd.proofs_check.derivations import PromptModel, dot, quad, tr, wpgd_predictor

model = PromptModel()  # Σ a general symmetric matrix, dense task correlation R̄, shared noise σ²
predictor = wpgd_predictor()  # ŷ = xᵀ P Xᵀ(ω ⊙ y), parameters P (d×d) and ω (n×1)


def claimed_risk(p):
    S, P, w = p.Sigma, p.P, p.omega
    a = tr(P @ S @ S)
    b = tr(P.T @ S @ P @ S @ S)
    c = tr(P.T @ S @ P @ S)
    return (
        p.r_q * tr(S)
        + p.sigma2
        - 2 * a * dot(p.r, w)
        + b * quad(w, p.R + p.D_R, w)
        + c * (tr(S) * quad(w, p.D_R, w) + p.sigma2 * dot(w, w))
    )
