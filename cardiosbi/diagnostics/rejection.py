"""Error versus retained fraction: does rejecting the most uncertain cases cut the error?

Cases are sorted by posterior width (the 90 % central interval by default); keeping only the
most certain fraction r of them, the error of the posterior mean over the kept cases is
plotted against r. An informative uncertainty gives a curve that falls as r shrinks; a flat
curve means the widths say nothing about the error. The oracle curve (sorted by the actual
error) is the best any ordering can do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiosbi.diagnostics._arrays import check_samples

DEFAULT_FRACTIONS = np.linspace(0.1, 1.0, 19)


def interval_width(samples, level: float = 0.9) -> np.ndarray:
    """Width of the central ``level`` interval of the draws, shape (B, k)."""
    q = np.quantile(np.asarray(samples, float), [(1 - level) / 2, (1 + level) / 2], axis=0)
    return q[1] - q[0]


def rejection_curves(
    samples, theta, names: list[str], *, fractions=DEFAULT_FRACTIONS, level: float = 0.9
) -> pd.DataFrame:
    """Tidy table: parameter, retained_fraction, ordering (width / oracle), mae, rmse.

    The error is that of the posterior mean; ``mae`` is the mean absolute error in the
    parameter's units over the retained cases.
    """
    samples, theta = check_samples(samples, theta)
    errors = np.abs(samples.mean(axis=0) - theta)  # (B, k)
    widths = interval_width(samples, level)
    rows = []
    for j, name in enumerate(names):
        orderings = {"width": np.argsort(widths[:, j], kind="stable"), "oracle": np.argsort(errors[:, j])}
        for ordering, order in orderings.items():
            for fraction in np.asarray(fractions, float):
                kept = order[: max(1, int(round(fraction * len(order))))]
                e = errors[kept, j]
                rows.append(
                    {
                        "parameter": name,
                        "retained_fraction": float(fraction),
                        "ordering": ordering,
                        "mae": float(e.mean()),
                        "rmse": float(np.sqrt((e**2).mean())),
                    }
                )
    return pd.DataFrame(rows)
