"""Simulation-based calibration (Talts et al., 2018): rank statistics and uniformity tests.

If θ ~ p(θ), x ~ p(x | θ) and the n draws come from the true posterior p(θ | x), the rank of θ
among the draws is uniform on {0, …, n}. Deviations show the failure mode: a U shape means
overconfidence, a hump means underconfidence, a slope means bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from cardiosbi.diagnostics._arrays import check_samples


def sbc_ranks(samples, theta, *, seed: int = 0) -> np.ndarray:
    """Rank of each true value among its posterior draws, shape (B, k), values in 0..n.

    Ties (possible with discrete or clipped draws) are broken uniformly at random so the
    ranks of a calibrated posterior stay exactly uniform.
    """
    samples, theta = check_samples(samples, theta)
    below = (samples < theta[None]).sum(axis=0)
    ties = (samples == theta[None]).sum(axis=0)
    rng = np.random.default_rng(seed)
    return below + rng.integers(0, ties + 1)


@dataclass(frozen=True)
class RankTest:
    """Uniformity tests of SBC ranks for one parameter."""

    chi2: float
    chi2_pvalue: float
    ks_pvalue: float


def rank_histogram(ranks: np.ndarray, n_draws: int, n_bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ranks in ``n_bins`` bins and the expected count per bin under uniformity.

    Bins group consecutive rank values; when n+1 is not a multiple of ``n_bins`` the expected
    counts differ slightly per bin and are computed exactly. With fewer rank values than bins
    (n + 1 < ``n_bins``) each value is its own bin: an empty bin would expect 0 ranks and make
    the chi-square statistic 0/0.
    """
    ranks = np.asarray(ranks)
    n_bins = min(n_bins, n_draws + 1)
    edges = np.linspace(0, n_draws + 1, n_bins + 1).round().astype(int)
    counts = np.array([((ranks >= lo) & (ranks < hi)).sum() for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    expected = len(ranks) * np.diff(edges) / (n_draws + 1)
    return counts, expected


def rank_uniformity(ranks: np.ndarray, n_draws: int, n_bins: int = 20) -> RankTest:
    """Chi-square test on the binned ranks and a KS test on the (jittered) normalised ranks."""
    counts, expected = rank_histogram(ranks, n_draws, n_bins)
    chi2, chi2_p = stats.chisquare(counts, expected)
    # Spread each discrete rank uniformly over its cell so the KS test applies.
    jitter = np.random.default_rng(0).uniform(size=len(ranks))
    ks = stats.kstest((np.asarray(ranks) + jitter) / (n_draws + 1), "uniform")
    return RankTest(float(chi2), float(chi2_p), float(ks.pvalue))
