"""Trend agreement of a monitor with a reference: four-quadrant concordance and per-record
correlation (Critchley et al. 2010; Saugel et al. 2015, for cardiac output monitors).

A trending monitor may be biased in absolute terms and still be useful if its changes follow
the reference's. Changes are taken between windows of the same record at least ``min_gap_s``
apart (consecutive 8-s windows mostly differ by noise); pairs whose reference change is inside
the exclusion zone (too small to call a direction) are left out, as is the convention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def record_changes(table: pd.DataFrame, estimate: str, reference: str,
                   min_gap_s: float = 40.0, time: str = "start_s",
                   record: str = "record") -> pd.DataFrame:
    """Every within-record pair of windows ``min_gap_s`` or more apart: columns ``record``,
    ``d_estimate``, ``d_reference`` (later minus earlier) and ``reference_mean`` (the record's
    mean reference, for relative exclusion zones)."""
    parts = []
    for name, rows in table.dropna(subset=[estimate, reference]).groupby(record, sort=False):
        t = rows[time].to_numpy(float)
        est, ref = rows[estimate].to_numpy(float), rows[reference].to_numpy(float)
        i, j = np.nonzero(t[None, :] - t[:, None] >= min_gap_s)
        if i.size:
            parts.append(pd.DataFrame({record: name, "d_estimate": est[j] - est[i],
                                       "d_reference": ref[j] - ref[i],
                                       "reference_mean": float(ref.mean())}))
    if not parts:
        return pd.DataFrame(columns=[record, "d_estimate", "d_reference", "reference_mean"])
    return pd.concat(parts, ignore_index=True)


def concordance(d_estimate, d_reference, exclusion: float | np.ndarray) -> tuple[float, int]:
    """Share of changes outside the exclusion zone whose signs agree, and how many there were.

    ``exclusion``: the smallest |reference change| that counts (a number or one per change).
    NaN when no change is large enough.
    """
    d_est, d_ref = np.asarray(d_estimate, float), np.asarray(d_reference, float)
    used = np.abs(d_ref) >= np.asarray(exclusion, float)
    if not used.any():
        return float("nan"), 0
    return float(np.mean(np.sign(d_est[used]) == np.sign(d_ref[used]))), int(used.sum())


def per_record_correlation(table: pd.DataFrame, estimate: str, reference: str,
                           min_windows: int = 5, record: str = "record") -> pd.Series:
    """Pearson r of estimate against reference within each record with enough windows whose
    reference varies (a constant series has no correlation)."""
    out = {}
    for name, rows in table.dropna(subset=[estimate, reference]).groupby(record, sort=False):
        est, ref = rows[estimate].to_numpy(float), rows[reference].to_numpy(float)
        if len(rows) >= min_windows and est.std() > 0 and ref.std() > 0:
            out[name] = float(np.corrcoef(est, ref)[0, 1])
    return pd.Series(out, name="r", dtype=float)
