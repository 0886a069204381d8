"""PyTorch layer: the GLA model, prompt sampling, construction, training and evaluation.
"""
