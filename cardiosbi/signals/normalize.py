"""The window normalisation shared by real and simulated data (one function, both pipelines)."""

from __future__ import annotations

import warnings

import numpy as np

# A channel whose spread is below this (in its own unit: mmHg, NU…) is flat: it becomes zeros
# rather than amplified rounding noise.
FLAT_STD = 1e-6


def normalize_window(x: np.ndarray, return_stats: bool = False):
    """Per-window, per-channel z-score along the last axis, as float32.

    ``x`` is (..., T). Missing samples (NaN: gaps kept for a posterior with a missing-data mask)
    stay NaN and do not enter the mean and spread; a channel with no observed sample stays all
    NaN. A channel with spread below ``FLAT_STD`` becomes zeros (not NaN). With
    ``return_stats`` also returns the removed ``mean`` and ``std`` (shape ``x.shape[:-1]``),
    which carry the absolute level and amplitude (e.g. MAP) a model may take as extra inputs.
    """
    x = np.asarray(x, dtype=np.float64)
    mean, std = _observed_stats(x) if np.isnan(x).any() else (
        x.mean(axis=-1, keepdims=True), x.std(axis=-1, keepdims=True))
    scale = np.where(std < FLAT_STD, np.inf, std)
    out = ((x - mean) / scale).astype(np.float32)
    if return_stats:
        return out, mean[..., 0], std[..., 0]
    return out


def _observed_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread over the observed (non-NaN) samples; NaN for a channel with none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        return np.nanmean(x, axis=-1, keepdims=True), np.nanstd(x, axis=-1, keepdims=True)
