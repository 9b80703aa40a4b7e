"""The window normalisation shared by real and simulated data (one function, both pipelines)."""

from __future__ import annotations

import numpy as np

_EPS = 1e-8


def normalize_window(x: np.ndarray, return_stats: bool = False):
    """Per-window, per-channel z-score along the last axis, as float32.

    ``x`` is (..., T). A channel with no spread becomes zeros (not NaN). With
    ``return_stats`` also returns the removed ``mean`` and ``std`` (shape ``x.shape[:-1]``),
    which carry the absolute level and amplitude (e.g. MAP) a model may take as extra inputs.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    out = ((x - mean) / np.maximum(std, _EPS)).astype(np.float32)
    if return_stats:
        return out, mean[..., 0], std[..., 0]
    return out
