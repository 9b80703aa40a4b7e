"""Point-estimate accuracy and posterior contraction, per parameter.

Relative error and R² follow the FitzHugh–Nagumo CNN study (Rudi et al., 2021) so NPE and
regression baselines are scored the same way; z-score and shrinkage follow Schad et al. (2021).
"""

from __future__ import annotations

import numpy as np

from cardiosbi.diagnostics._arrays import as_numpy


def point_metrics(estimate, theta) -> dict[str, np.ndarray]:
    """Median relative error, R², RMSE and MAE of point estimates (B, k) vs truth (B, k).

    The relative error is |θ̂ − θ| / |θ| (the published definition); cases with θ = 0 are
    left out of the median. R² = 1 − SSE / SST per parameter.
    """
    est, theta = as_numpy(estimate), as_numpy(theta)
    err = est - theta
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(err) / np.abs(theta)
    rel = np.where(np.isfinite(rel), rel, np.nan)
    sst = ((theta - theta.mean(axis=0)) ** 2).sum(axis=0)
    return {
        "median_rel_error": np.nanmedian(rel, axis=0),
        "r2": 1.0 - (err**2).sum(axis=0) / np.where(sst > 0, sst, np.nan),
        "rmse": np.sqrt((err**2).mean(axis=0)),
        "mae": np.abs(err).mean(axis=0),
    }


def contraction(samples, theta, prior_std) -> dict[str, np.ndarray]:
    """Mean posterior z-score |mean − θ| / std and shrinkage 1 − var_post / var_prior.

    Good posteriors have shrinkage near 1 (data are informative) and z-scores near the
    value expected for a calibrated Gaussian posterior (√(2/π) ≈ 0.8).
    """
    s, theta = as_numpy(samples), as_numpy(theta)
    mean, std = s.mean(axis=0), s.std(axis=0)
    z = np.abs(mean - theta) / np.where(std > 0, std, np.nan)
    prior_var = np.asarray(prior_std, float) ** 2
    return {
        "mean_zscore": np.nanmean(z, axis=0),
        "shrinkage": 1.0 - (std**2).mean(axis=0) / prior_var,
    }
