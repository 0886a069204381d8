"""Float64 core: problems and specs, closed-form risk, Monte Carlo, solvers, spectra, classes.

Imports NumPy/SciPy only (torch, matplotlib and python-flint are never imported here).
"""
