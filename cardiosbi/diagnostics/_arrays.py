"""Array conversion and shape checks shared by the diagnostics."""

from __future__ import annotations

import numpy as np
import torch


def as_numpy(values) -> np.ndarray:
    """A float64 numpy copy of a tensor or array-like."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def check_samples(samples, theta) -> tuple[np.ndarray, np.ndarray]:
    """Validate posterior ``samples`` (n, B, k) against true ``theta`` (B, k).

    A single parameter may be given as (n, B) and (B,). Non-finite values are rejected here
    because every diagnostic downstream would silently turn them into wrong fractions.
    """
    samples, theta = as_numpy(samples), as_numpy(theta)
    if samples.ndim == 2 and theta.ndim == 1:
        samples, theta = samples[..., None], theta[:, None]
    if samples.ndim != 3 or theta.ndim != 2 or samples.shape[1:] != theta.shape:
        raise ValueError(
            f"expected samples (n, B, k) and theta (B, k); got {samples.shape} and {theta.shape}"
        )
    if not (np.isfinite(samples).all() and np.isfinite(theta).all()):
        raise ValueError("samples and theta must be finite (drop failed cases first)")
    return samples, theta
