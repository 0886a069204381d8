"""High-precision and rigorous layer: mpmath solves, certificates, arb ball arithmetic.
"""
