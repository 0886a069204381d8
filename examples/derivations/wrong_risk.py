"""A plausible slip in the project's risk: the diagonal term D_R of M1 = R + D_R is missing.

    wpgd check-derivation examples/derivations/wrong_risk.py      # exit 1, counterexample

D_R comes from the fourth moment E[x_i x_iᵀ A x_i x_iᵀ] = Σ(A + Aᵀ)Σ + tr(AΣ)Σ of a single
demonstration (i = j); dropping it treats x_i x_iᵀ as if it were replaced by Σ.
"""

from wpgd.proofs_check.derivations import PromptModel, dot, quad, tr, wpgd_predictor

model = PromptModel()
predictor = wpgd_predictor()


def claimed_risk(p):
    S, P, w = p.Sigma, p.P, p.omega
    a = tr(P @ S @ S)
    b = tr(P.T @ S @ P @ S @ S)
    c = tr(P.T @ S @ P @ S)
    return (
        p.r_q * tr(S)
        + p.sigma2
        - 2 * a * dot(p.r, w)
        + b * quad(w, p.R, w)  # slip: should be R + D_R
        + c * (tr(S) * quad(w, p.D_R, w) + p.sigma2 * dot(w, w))
    )
