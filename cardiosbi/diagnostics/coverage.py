"""Expected coverage of credible regions: central intervals, marginal HPD and joint HPD.

Every function works on plain arrays: posterior ``samples`` of shape (n, B, k) (n draws for
each of B test cases, k parameters) and the true ``theta`` of shape (B, k).

For each test case we compute the *credibility level* at which the truth enters the region:
the smallest α such that the level-α region contains θ. For a calibrated posterior this level
is uniform on [0, 1], so the expected coverage curve — the fraction of cases with level ≤ α —
is the diagonal. Curves above the diagonal mean conservative (too wide) posteriors, curves
below mean overconfident (too narrow) ones.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from cardiosbi.diagnostics._arrays import as_numpy, check_samples

DEFAULT_LEVELS = np.linspace(0.0, 1.0, 41)


def central_credibility(samples, theta) -> np.ndarray:
    """Level of the smallest central interval containing the truth, shape (B, k).

    With F the posterior CDF at θ (estimated from the samples, ties split in half), the
    central level-α interval contains θ iff |2F − 1| ≤ α.
    """
    samples, theta = check_samples(samples, theta)
    below = (samples < theta[None]).mean(axis=0)
    equal = (samples == theta[None]).mean(axis=0)
    cdf = below + 0.5 * equal
    return np.abs(2.0 * cdf - 1.0)


def hpd_credibility_from_density(log_density_samples, log_density_theta) -> np.ndarray:
    """HPD level at the truth from densities: the mass of draws denser than θ.

    ``log_density_samples`` has shape (n, B, ...) and ``log_density_theta`` (B, ...): for the
    joint HPD region pass the flow's log_prob of each draw and of the truth; for marginal HPD
    pass per-parameter KDE values (see :func:`marginal_hpd_credibility`).
    """
    dens_s = as_numpy(log_density_samples)
    dens_t = as_numpy(log_density_theta)
    if dens_s.shape[1:] != dens_t.shape:
        raise ValueError(f"density shapes differ: {dens_s.shape[1:]} vs {dens_t.shape}")
    return (dens_s > dens_t[None]).mean(axis=0)


def marginal_hpd_credibility(samples, theta, *, n_reference: int = 256, seed: int = 0) -> np.ndarray:
    """Per-parameter HPD level at the truth, shape (B, k), from a Gaussian KDE of the draws.

    The KDE (Scott's bandwidth, one per test case and parameter) is evaluated at the truth
    and at ``n_reference`` of the draws; the level is the fraction of those draws with a
    higher density. Evaluating at a subset keeps the cost at O(n · n_reference) per case.
    """
    samples, theta = check_samples(samples, theta)
    n = samples.shape[0]
    rng = np.random.default_rng(seed)
    ref_idx = rng.choice(n, size=min(n_reference, n), replace=False)
    s = torch.as_tensor(samples, dtype=torch.float64)  # (n, B, k)
    std = s.std(dim=0).clamp_min(1e-12)
    bandwidth = std * n ** (-1.0 / 5.0)  # Scott's rule in one dimension
    points = torch.cat([torch.as_tensor(theta, dtype=torch.float64)[None], s[ref_idx]], dim=0)
    log_dens = torch.empty(points.shape, dtype=torch.float64)
    chunk = max(1, 2_000_000 // (n * points.shape[0]))
    for start in range(0, s.shape[1], chunk):
        sl = slice(start, start + chunk)
        z = (points[:, None, sl] - s[None, :, sl]) / bandwidth[None, None, sl]
        log_dens[:, sl] = torch.logsumexp(-0.5 * z**2, dim=1)
    return (log_dens[1:] > log_dens[0][None]).double().mean(dim=0).numpy()


def expected_coverage(credibility: np.ndarray, levels=DEFAULT_LEVELS) -> np.ndarray:
    """Empirical coverage at each nominal level: fraction of cases with credibility ≤ α.

    ``credibility`` has shape (B,) or (B, k); the result has shape (L,) or (L, k).
    """
    cred = as_numpy(credibility)
    levels = np.asarray(levels, float)
    return (cred[None] <= levels.reshape((-1,) + (1,) * cred.ndim)).mean(axis=1)


def coverage_band(levels, n_cases: int, confidence: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """Binomial band around the diagonal a calibrated posterior stays in (per level)."""
    levels = np.asarray(levels, float)
    low = stats.binom.ppf((1 - confidence) / 2, n_cases, levels) / n_cases
    high = stats.binom.ppf((1 + confidence) / 2, n_cases, levels) / n_cases
    return low, high


def calibration_error(credibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed and absolute area between the coverage curve and the diagonal, per parameter.

    Signed area = ∫ (coverage(α) − α) dα = 0.5 − mean(credibility): positive means
    conservative (underconfident), negative overconfident; range [−0.5, 0.5]. The absolute
    area ∫ |coverage(α) − α| dα (0 = perfect) is the single calibration-error number reported
    per parameter (an ACAUC-style score), computed exactly from the empirical CDF.
    """
    cred = as_numpy(credibility)
    if cred.ndim == 1:
        cred = cred[:, None]
    signed = 0.5 - cred.mean(axis=0)
    absolute = np.array([_area_between_ecdf_and_diagonal(cred[:, j]) for j in range(cred.shape[1])])
    return signed, absolute


def _area_between_ecdf_and_diagonal(values: np.ndarray) -> float:
    """Exact ∫₀¹ |ECDF(α) − α| dα for values in [0, 1]."""
    v = np.sort(np.clip(values, 0.0, 1.0))
    knots = np.concatenate([[0.0], v, [1.0]])
    heights = np.arange(len(v) + 1) / len(v)  # ECDF on [knots[i], knots[i+1])
    area = 0.0
    for a, b, h in zip(knots[:-1], knots[1:], heights, strict=True):
        if b <= a:
            continue
        area += _integral_abs_linear(h, a, b)
    return area


def _integral_abs_linear(h: float, a: float, b: float) -> float:
    """∫_a^b |h − α| dα."""
    if h <= a:
        return ((b - h) ** 2 - (a - h) ** 2) / 2
    if h >= b:
        return ((h - a) ** 2 - (h - b) ** 2) / 2
    return ((h - a) ** 2 + (b - h) ** 2) / 2
