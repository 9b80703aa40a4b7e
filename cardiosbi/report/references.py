"""Estimates against reference channels, per window: HR against the ECG, MAP against the ABP.

The references are the preprocessing's per-window measurements (``hr_ecg`` from ECG R peaks,
``map_abp`` averaged over ABP beats). Only accepted windows are compared, and a posterior
estimate only where the posterior did not flag the window for rejection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = ["window", "start_s", "reference", "reference_value", "estimator", "estimate",
           "ci90_low", "ci90_high", "difference"]


@dataclass(frozen=True)
class Reference:
    """A reference measurement: its quality-table column and the estimates it checks."""

    name: str            # "HR vs ECG"
    column: str          # quality-table column holding the reference value
    channel: str         # channel that must exist for the reference ("ecg")
    beat_column: str | None   # beat-derived estimate in the quality table (PPG HR), if any
    biomarker: str       # base name of the posterior biomarkers compared ("hr", "map")
    unit: str


REFERENCES = (
    Reference("HR vs ECG", "hr_ecg", "ecg", "hr_ppg", "hr", "bpm"),
    Reference("MAP vs ABP", "map_abp", "abp", None, "map", "mmHg"),
)


def compare(reference: Reference, quality: pd.DataFrame, estimates: pd.DataFrame | None
            ) -> pd.DataFrame:
    """Tidy per-window comparison rows (``COLUMNS``); empty when the reference is absent."""
    if reference.column not in quality or quality[reference.column].isna().all():
        return pd.DataFrame(columns=COLUMNS)
    base = quality.loc[quality["accepted"].astype(bool) & quality[reference.column].notna(),
                       ["window", "start_s", reference.column]]
    base = base.rename(columns={reference.column: "reference_value"})
    parts = []
    if reference.beat_column and reference.beat_column in quality:
        beat = quality[["start_s", reference.beat_column]].rename(
            columns={reference.beat_column: "estimate"})
        parts.append(base.merge(beat, on="start_s").assign(
            estimator=f"{reference.beat_column} (beat detection)", ci90_low=np.nan,
            ci90_high=np.nan))
    for label, rows in posterior_series(estimates, reference.biomarker):
        kept = rows.loc[~rows["reject"], ["start_s", "median", "ci90_low", "ci90_high"]]
        parts.append(base.merge(kept.rename(columns={"median": "estimate"}), on="start_s")
                     .assign(estimator=f"{label} (posterior median)"))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(parts, ignore_index=True).dropna(subset=["estimate"])
    table["reference"] = reference.name
    table["difference"] = table["estimate"] - table["reference_value"]
    return table[COLUMNS]


def posterior_series(estimates: pd.DataFrame | None, biomarker: str
                     ) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per estimated biomarker named ``biomarker`` or ``biomarker_<site>``, one
    per model when the table has a ``model`` column."""
    if estimates is None or "parameter" not in estimates:
        return []
    names = estimates["parameter"].dropna().astype(str)
    wanted = names[(names == biomarker) | names.str.startswith(f"{biomarker}_")].unique()
    series = []
    for key, rows in series_groups(estimates[estimates["parameter"].isin(wanted)]):
        series.append((key, rows))
    return series


def series_groups(estimates: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Estimate rows split per (model, parameter), labelled ``parameter`` or
    ``parameter [model]``, in order of first appearance."""
    rows = estimates[estimates["parameter"].notna()]
    keys = ["model", "parameter"] if "model" in rows else ["parameter"]
    groups = []
    for key, group in rows.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        label = f"{key[1]} [{key[0]}]" if len(key) == 2 else str(key[0])
        groups.append((label, group))
    return groups


def agreement(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per estimator: windows compared, mean absolute difference and mean difference (bias)."""
    if comparison.empty:
        return pd.DataFrame(columns=["reference", "estimator", "windows", "mean_abs_difference",
                                     "mean_difference"])
    grouped = comparison.groupby(["reference", "estimator"], sort=False)["difference"]
    table = grouped.agg(windows="count", mean_abs_difference=lambda d: d.abs().mean(),
                        mean_difference="mean")
    return table.reset_index()
