"""Variant: labels with a mean μ, and a predictor with a learned offset b (docs/derivations.md).

    wpgd check-derivation examples/derivations/label_bias.py

Data: y_i = x_iᵀβ_i + μ + ξ_i (a constant label mean μ). Predictor:
ŷ = xᵀ P Xᵀ(ω ⊙ y) + b. Derived in trace form for general d and n by the Wick engine
(docs/derivations.md shows the derivation):

L(P, ω, b) = L₀(P, ω) + μ² ωᵀω tr(PΣPᵀΣ) + (b − μ)²

where L₀ is the project's risk (paper_risk.py). The label mean acts as extra label noise in
the weighting term (σ² → σ² + μ² inside M2, but not in the query's own noise), and the best
offset is b = μ.
"""

from wpgd.proofs_check.derivations import PromptModel, dot, quad, tr, with_bias, wpgd_predictor

model = PromptModel(label_mean=True)
predictor = with_bias(wpgd_predictor(), "b")


def claimed_risk(p):
    S, P, w = p.Sigma, p.P, p.omega
    a = tr(P @ S @ S)
    b = tr(P.T @ S @ P @ S @ S)
    c = tr(P.T @ S @ P @ S)
    base = (
        p.r_q * tr(S)
        + p.sigma2
        - 2 * a * dot(p.r, w)
        + b * quad(w, p.R + p.D_R, w)
        + c * (tr(S) * quad(w, p.D_R, w) + p.sigma2 * dot(w, w))
    )
    return base + p.mu**2 * dot(w, w) * tr(P @ S @ P.T @ S) + (p.b - p.mu) ** 2
