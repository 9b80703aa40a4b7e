"""Rejection by predicted uncertainty on tidy estimate tables (one row per window and biomarker).

:mod:`cardiosbi.diagnostics.rejection` works on posterior draws; real recordings and saved
studies give summaries instead: an estimate, its 90 % interval and a reference. Here the
windows of each group are sorted by interval width and only the narrowest fraction is kept;
the error and the coverage of the kept windows show whether the width predicts the error
(Manduchi et al. 2024: error grows with predicted uncertainty, so the widest windows can be
rejected automatically).

Real windows of one record are not independent, so :func:`record_bootstrap` resamples whole
records to put intervals on the retained error; a simulation is its own record.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from cardiosbi.errors import ConfigError

DEFAULT_FRACTIONS = (1.0, 0.9, 0.75, 0.5)
COLUMNS = {"estimate": "estimate", "reference": "reference", "width": "width90",
           "low": "ci90_low", "high": "ci90_high"}


def kept_count(fraction: float, n: int) -> int:
    """Windows kept out of ``n`` at ``fraction`` (half up, at least one)."""
    return max(1, int(np.floor(fraction * n + 0.5)))


def check_fractions(fractions: Sequence[float]) -> np.ndarray:
    values = np.asarray(fractions, float)
    if values.size == 0 or not np.all((values > 0) & (values <= 1)):
        raise ConfigError(f"retained fractions must lie in (0, 1], got {list(fractions)}")
    return values


def scored(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with an estimate, a reference and a width, with ``abs_error`` and ``inside``."""
    missing = [c for c in COLUMNS.values() if c not in rows]
    if missing:
        raise ConfigError(f"the estimate table lacks columns {missing}")
    rows = rows.dropna(subset=[COLUMNS["estimate"], COLUMNS["reference"], COLUMNS["width"]])
    error = rows[COLUMNS["estimate"]] - rows[COLUMNS["reference"]]
    inside = rows[COLUMNS["reference"]].between(rows[COLUMNS["low"]], rows[COLUMNS["high"]])
    return rows.assign(error=error, abs_error=error.abs(), inside=inside)


def _groups(rows: pd.DataFrame, by: Sequence[str]):
    """(key dict, group) for each group of ``by`` (one group of all rows when ``by`` is empty)."""
    by = list(by)
    if not by:
        yield {}, rows
        return
    for key, group in rows.groupby(by, sort=False):
        yield dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), group


def _retained(group: pd.DataFrame, fractions: np.ndarray) -> list[dict]:
    order = np.argsort(group[COLUMNS["width"]].to_numpy(float), kind="stable")
    width = group[COLUMNS["width"]].to_numpy(float)[order]
    error = group["error"].to_numpy(float)[order]
    inside = group["inside"].to_numpy(bool)[order]
    mae_all = np.abs(error).mean()
    out = []
    for fraction in fractions:
        k = kept_count(fraction, len(order))
        mae = np.abs(error[:k]).mean()
        out.append({"retained_fraction": float(fraction), "n": len(order), "n_kept": k,
                    "width_threshold": width[k - 1], "width_median": np.median(width[:k]),
                    "mae": mae, "bias": error[:k].mean(), "coverage": inside[:k].mean(),
                    "mae_reduction": 1.0 - mae / mae_all if mae_all > 0 else 0.0})
    return out


def retained_accuracy(rows: pd.DataFrame, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                      by: Sequence[str] = ()) -> pd.DataFrame:
    """Per group of ``by`` and retained fraction: accuracy of the narrowest windows.

    Within a group the windows are sorted by ``width90`` (stable: ties keep table order) and
    the first ``round(fraction * n)`` are kept. Columns: ``by``, retained_fraction, n, n_kept,
    width_threshold (widest kept width), width_median, mae, bias, coverage (reference inside
    ``[ci90_low, ci90_high]``), mae_reduction (1 - mae / mae of all windows).
    """
    fractions = check_fractions(fractions)
    return pd.DataFrame([key | r for key, group in _groups(scored(rows), by)
                         for r in _retained(group, fractions)])


def width_error_bins(rows: pd.DataFrame, bins: int = 5, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per group: windows in ``bins`` equal-count bins of width, with each bin's width range,
    median width, MAE, coverage and count (the binned error-vs-width curve)."""
    out = []
    for key, group in _groups(scored(rows), by):
        q = min(bins, len(group))
        # ranks, so tied widths still split into equal-count bins
        codes = pd.qcut(group[COLUMNS["width"]].rank(method="first"), q, labels=False)
        for b, part in group.groupby(codes):
            width = part[COLUMNS["width"]]
            out.append(key | {
                "bin": int(b), "n": len(part), "width_low": width.min(), "width_high": width.max(),
                "width_median": width.median(), "mae": part["abs_error"].mean(),
                "coverage": part["inside"].mean()})
    return pd.DataFrame(out)


def width_error_association(rows: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per group: Spearman correlation of interval width with absolute error (rho, p)."""
    out = []
    for key, group in _groups(scored(rows), by):
        rho, p = (spearmanr(group[COLUMNS["width"]], group["abs_error"]) if len(group) > 2
                  else (np.nan, np.nan))
        out.append(key | {"spearman_rho": rho, "spearman_p": p})
    return pd.DataFrame(out)


def _resampled_mae(error: np.ndarray, width: np.ndarray, offsets: np.ndarray,
                   lengths: np.ndarray, picked: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Retained MAE (per fraction) of the windows of the records ``picked``."""
    counts = lengths[picked]
    starts = np.repeat(offsets[picked] - np.cumsum(counts) + counts, counts)
    index = starts + np.arange(counts.sum())
    order = np.argsort(width[index], kind="stable")
    sorted_error = error[index][order]
    return np.array([sorted_error[: kept_count(f, len(index))].mean() for f in fractions])


def record_bootstrap(rows: pd.DataFrame, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                     by: Sequence[str] = (), record: str = "record", n_boot: int = 1000,
                     level: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """Percentile intervals of the retained MAE and of its reduction, resampling records.

    Each replicate draws the group's records with replacement, keeps all their windows and
    recomputes the retained MAE at each fraction (the width threshold is re-ranked in the
    replicate). Columns: ``by``, retained_fraction, mae_low, mae_high, reduction_low,
    reduction_high (central ``level`` intervals over ``n_boot`` replicates).
    """
    fractions = check_fractions(fractions)
    rng = np.random.default_rng(seed)
    tails = [(1 - level) / 2, (1 + level) / 2]
    out = []
    for key, group in _groups(scored(rows), by):
        group = group.sort_values(record, kind="stable")
        lengths = group.groupby(record, sort=True).size().to_numpy()
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        error, width = group["abs_error"].to_numpy(float), group[COLUMNS["width"]].to_numpy(float)
        # column 0: all windows of the replicate; then one column per fraction
        mae = np.array([_resampled_mae(error, width, offsets, lengths,
                                       rng.integers(0, len(lengths), len(lengths)),
                                       np.concatenate([[1.0], fractions]))
                        for _ in range(n_boot)])
        with np.errstate(divide="ignore", invalid="ignore"):
            reduction = 1.0 - mae[:, 1:] / mae[:, :1]
        mae = mae[:, 1:]
        mae_q, red_q = np.quantile(mae, tails, axis=0), np.nanquantile(reduction, tails, axis=0)
        for j, fraction in enumerate(fractions):
            out.append(key | {
                "retained_fraction": float(fraction), "mae_low": mae_q[0, j],
                "mae_high": mae_q[1, j], "reduction_low": red_q[0, j],
                "reduction_high": red_q[1, j]})
    return pd.DataFrame(out)
