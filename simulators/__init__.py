"""Forward models only (no machine learning): hemodynamics, PPG, measurement effects, benchmarks.

This package must never import :mod:`cardiosbi`.
"""
