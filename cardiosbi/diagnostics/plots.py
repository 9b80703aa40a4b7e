"""Diagnostic figures (matplotlib, pyplot-free): one PNG per diagnostic, one panel per parameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cardiosbi.diagnostics.coverage import coverage_band
from cardiosbi.diagnostics.sbc import rank_histogram


def _panels(n: int, width: float = 3.2):
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    # pyplot-free figures: no global backend or state is touched (safe inside notebooks)
    fig = Figure(figsize=(width * cols, width * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


_KIND_COLORS = {"central": "C0", "hpd": "C1", "joint_hpd": "C2"}


def plot_coverage(table: pd.DataFrame, n_cases: int, path: Path) -> Path:
    """Expected coverage curves (one line per region kind) with a 99 % binomial band."""
    names = list(dict.fromkeys(table["parameter"]))
    fig, axes = _panels(len(names))
    for ax, name in zip(axes, names, strict=True):
        sub = table[table["parameter"] == name]
        levels = np.sort(sub["level"].unique())
        low, high = coverage_band(levels, n_cases)
        ax.fill_between(levels, low, high, color="0.85", label="99% band")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        for kind, part in sub.groupby("kind"):
            ax.plot(part["level"], part["coverage"], label=kind, color=_KIND_COLORS.get(kind, "C3"))
        ax.set(title=name, xlabel="credibility level", ylabel="empirical coverage", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_sbc(ranks: np.ndarray, n_draws: int, names: list[str], path: Path, n_bins: int = 20) -> Path:
    """SBC rank histograms with the 99 % band of a uniform histogram."""
    from scipy import stats

    fig, axes = _panels(len(names))
    for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
        counts, expected = rank_histogram(ranks[:, j], n_draws, n_bins)
        p = expected / len(ranks)
        bins = np.arange(len(counts))  # fewer than n_bins with fewer rank values than bins
        ax.bar(bins, counts, width=0.9)
        # Drawn over the bars, translucent, so bins outside the band stand out.
        ax.fill_between(bins, stats.binom.ppf(0.005, len(ranks), p),
                        stats.binom.ppf(0.995, len(ranks), p), step="mid", color="0.5", alpha=0.3,
                        label="99% band if uniform")
        ax.set(title=name, xlabel="rank bin", ylabel="count")
    return _save(fig, path)


def plot_tarp(levels: np.ndarray, ecp: np.ndarray, n_cases: int, path: Path) -> Path:
    """TARP expected coverage probability against credibility level."""
    fig = Figure(figsize=(3.6, 3.6))
    ax = fig.subplots()
    low, high = coverage_band(levels, n_cases)
    ax.fill_between(levels, low, high, color="0.85")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.plot(levels, ecp)
    ax.set(title="TARP", xlabel="credibility level", ylabel="expected coverage", xlim=(0, 1), ylim=(0, 1))
    return _save(fig, path)


def plot_rejection(table: pd.DataFrame, path: Path) -> Path:
    """Mean absolute error of the posterior mean versus the fraction of cases retained."""
    names = list(dict.fromkeys(table["parameter"]))
    fig, axes = _panels(len(names))
    for ax, name in zip(axes, names, strict=True):
        for ordering, part in table[table["parameter"] == name].groupby("ordering"):
            ax.plot(part["retained_fraction"], part["mae"], marker=".", label=f"sorted by {ordering}")
        ax.set(title=name, xlabel="retained fraction", ylabel="MAE of posterior mean")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def plot_ppc(replicates: np.ndarray, x_obs: np.ndarray, path: Path, n_cases: int = 4) -> Path:
    """Observed vectors against the 5–95 % band and median of their predictive replicates."""
    n_cases = min(n_cases, x_obs.shape[0])
    fig, axes = _panels(n_cases, width=3.6)
    for b, ax in enumerate(axes):
        r = replicates[:, b].reshape(replicates.shape[0], -1)
        obs = x_obs[b].reshape(-1)
        grid = np.arange(obs.size)
        lo, med, hi = np.nanquantile(r, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(grid, lo, hi, color="C0", alpha=0.3, label="90% predictive")
        ax.plot(grid, med, color="C0", lw=0.8)
        ax.plot(grid, obs, color="k", lw=0.8, label="observed")
        ax.set(title=f"case {b}", xlabel="feature / sample")
    axes[0].legend(fontsize=7)
    return _save(fig, path)
