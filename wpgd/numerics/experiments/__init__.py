"""Experiments: figure and sweep drivers, result files and plots (matplotlib).
"""
