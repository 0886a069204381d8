"""Variant: multitask segments with a noise variance per segment (docs/derivations.md).

    wpgd check-derivation examples/derivations/segment_noise.py

K = 2 segments share a task each (task prior [[C, c], [cᵀ, r_q]]); labels of segment k carry
noise of variance σ_k², the query label σ_q². The derived risk (Wick engine, then identified
in general form and checked at the sizes below):

L = r_q tr Σ + σ_q² − 2 tr(PΣ²) rᵀω + tr(PᵀΣPΣ²) ωᵀ(R + D_R)ω
    + tr(PᵀΣPΣ) (tr Σ · ωᵀD_Rω + Σ_k σ_k² Σ_{i ∈ segment k} ω_i²)

with R = E C Eᵀ, r = E c (E the n×K segment indicator). Noise enters only through the
M2 term, token by token, with the variance of the token's own segment.
"""

from wpgd.proofs_check.derivations import PromptModel, dot, hadamard, quad, tr, wpgd_predictor

model = PromptModel(tasks="segments", segments=2, noise="per_segment")
predictor = wpgd_predictor()
sizes = [(1, 3), (2, 3)]  # n = 3 splits into segments of 2 and 1 demonstrations


def claimed_risk(p):
    S, P, w = p.Sigma, p.P, p.omega
    a = tr(P @ S @ S)
    b = tr(P.T @ S @ P @ S @ S)
    c = tr(P.T @ S @ P @ S)
    per_segment_w2 = p.E.T @ hadamard(w, w)  # Σ_{i ∈ segment k} ω_i², K×1
    return (
        p.r_q * tr(S)
        + p.sigma2_q
        - 2 * a * dot(p.r, w)
        + b * quad(w, p.R + p.D_R, w)
        + c * (tr(S) * quad(w, p.D_R, w) + dot(p.noise_segments, per_segment_w2))
    )
