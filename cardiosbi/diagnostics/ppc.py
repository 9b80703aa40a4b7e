"""Posterior predictive checks through a simulator callback.

For each test observation, parameters drawn from its posterior are pushed through the
simulator; the observation should look like a typical replicate. Two numbers per case:

- ``ppc_pvalue``: the fraction of replicates whose distance to the replicate mean is larger
  than the observation's (a posterior predictive p-value; small values flag a misfit, and
  under a well-specified model they are roughly uniform, slightly conservative);
- ``band_coverage``: the fraction of the observation's entries inside the pointwise central
  90 % predictive band of the replicates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from cardiosbi.diagnostics._arrays import as_numpy

Simulator = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def posterior_predictive(
    samples, x_obs, simulator: Simulator, *, n_replicates: int = 100, seed: int = 0
) -> np.ndarray:
    """Replicated observations, shape (n_replicates, B, *x_shape).

    ``simulator(theta, rng)`` maps parameters (M, k) to observations (M, *x_shape) in the
    same representation as ``x_obs`` (B, *x_shape).
    """
    samples = as_numpy(samples)
    x_obs = as_numpy(x_obs)
    n, batch, k = samples.shape
    if n_replicates > n:
        raise ValueError(f"n_replicates={n_replicates} exceeds the {n} posterior draws given")
    rng = np.random.default_rng(seed)
    theta = samples[:n_replicates].reshape(n_replicates * batch, k)
    replicates = np.asarray(simulator(theta, rng), dtype=np.float64)
    expected = (n_replicates * batch,) + x_obs.shape[1:]
    if replicates.shape != expected:
        raise ValueError(f"simulator returned shape {replicates.shape}, expected {expected}")
    return replicates.reshape((n_replicates,) + x_obs.shape)


def predictive_checks(replicates: np.ndarray, x_obs, *, level: float = 0.9) -> pd.DataFrame:
    """Per-case p-value and band coverage (see module docstring); one row per test case.

    Replicates that failed (non-finite) are ignored case by case; a case with fewer than two
    finite replicates gets NaN and a ``reason``.
    """
    x_obs = as_numpy(x_obs)
    batch = x_obs.shape[0]
    reps = replicates.reshape(replicates.shape[0], batch, -1)
    obs = x_obs.reshape(batch, -1)
    rows = []
    for b in range(batch):
        r = reps[:, b]
        r = r[np.isfinite(r).all(axis=1)]
        if len(r) < 2:
            rows.append({"case": b, "ppc_pvalue": np.nan, "band_coverage": np.nan,
                         "n_replicates": len(r), "reason": "simulator_failed"})
            continue
        center = r.mean(axis=0)
        scale = r.std(axis=0) + 1e-12
        d_rep = np.sqrt((((r - center) / scale) ** 2).mean(axis=1))
        d_obs = np.sqrt((((obs[b] - center) / scale) ** 2).mean())
        lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2], axis=0)
        rows.append({
            "case": b,
            "ppc_pvalue": float((d_rep >= d_obs).mean()),
            "band_coverage": float(((obs[b] >= lo) & (obs[b] <= hi)).mean()),
            "n_replicates": len(r),
            "reason": "",
        })
    return pd.DataFrame(rows)
