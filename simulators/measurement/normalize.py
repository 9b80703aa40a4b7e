"""Per-window, per-channel normalisation shared by simulated and real windows."""

from __future__ import annotations

import numpy as np

FLAT_STD = 1e-8


def normalize_window(x: np.ndarray) -> np.ndarray:
    """Z-score every channel of every window: (x - mean) / std over the last axis.

    ``x`` is (..., C, T). A flat channel (std below 1e-8 of its unit) becomes all zeros rather
    than being blown up, so a disconnected sensor never produces huge values.
    """
    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    safe = np.where(std > FLAT_STD, std, 1.0)
    return np.where(std > FLAT_STD, (x - mean) / safe, 0.0).astype(np.float32)
