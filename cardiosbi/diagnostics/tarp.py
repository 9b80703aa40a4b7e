"""TARP — tests of accuracy with random points (Lemos et al., ICML 2023).

For each test case a random reference point θ_r is drawn; f is the fraction of posterior draws
closer to θ_r than the truth. For a correct posterior f is uniform, so its empirical CDF (the
expected coverage probability, ECP) follows the diagonal. Unlike per-parameter coverage TARP
looks at the joint posterior.

Distances are Euclidean in z-scored coordinates: samples, truths and reference points are all
standardised with the mean and standard deviation of the true parameters of the test set.
Computing distances in raw units lets the widest-ranged parameter dominate, and
standardising only some of the three (the bug fixed in sbi PR #1832) biases the ECP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from cardiosbi.diagnostics._arrays import check_samples
from cardiosbi.diagnostics.coverage import DEFAULT_LEVELS, calibration_error, expected_coverage


@dataclass(frozen=True)
class TarpResult:
    """Per-case TARP statistic and the ECP curve built from it."""

    fractions: np.ndarray  # (B,) fraction of draws closer to the reference than the truth
    levels: np.ndarray  # (L,)
    ecp: np.ndarray  # (L,)
    atc: float  # signed area between ECP and diagonal (> 0 conservative, < 0 overconfident)
    abs_area: float
    ks_pvalue: float


def tarp(samples, theta, *, levels=DEFAULT_LEVELS, seed: int = 0) -> TarpResult:
    """Run TARP on posterior ``samples`` (n, B, k) against true ``theta`` (B, k)."""
    samples, theta = check_samples(samples, theta)
    center = theta.mean(axis=0)
    scale = theta.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    s = (samples - center) / scale
    t = (theta - center) / scale
    rng = np.random.default_rng(seed)
    low, high = t.min(axis=0), t.max(axis=0)
    reference = rng.uniform(low, high, size=t.shape)
    dist_samples = np.linalg.norm(s - reference[None], axis=-1)  # (n, B)
    dist_truth = np.linalg.norm(t - reference, axis=-1)  # (B,)
    fractions = (dist_samples < dist_truth[None]).mean(axis=0)
    levels = np.asarray(levels, float)
    signed, absolute = calibration_error(fractions)
    return TarpResult(
        fractions=fractions,
        levels=levels,
        ecp=expected_coverage(fractions, levels),
        atc=float(signed[0]),
        abs_area=float(absolute[0]),
        ks_pvalue=float(stats.kstest(fractions, "uniform").pvalue),
    )
